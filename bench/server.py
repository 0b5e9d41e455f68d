"""One uvicorn server process: start it pinned to a core, time its first answer, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.errors import BenchError
from bench.frameworks import Framework

__all__ = [
    "Answer",
    "Server",
    "fetch",
    "free_port",
    "process_cpu_seconds",
    "process_tree_cpu_seconds",
]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Answer:
    """What a server answered to one GET."""

    status: int
    content_type: str
    body: bytes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fetch(port: int, path: str = "/", timeout: float = 5.0) -> Answer:
    """GET ``path`` from 127.0.0.1:``port`` over a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return Answer(response.status, response.getheader("content-type", ""), response.read())
    finally:
        connection.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and all its threads, from /proc.

    Fields 14 and 15 of ``/proc/<pid>/stat`` count clock ticks; the command name
    (field 2) may contain spaces, so fields are counted from its closing parenthesis.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (gunicorn and granian fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += process_cpu_seconds(current)
        except OSError:
            continue
        pending.extend(children.get(current, ()))
    return total


class Server:
    """A uvicorn server of ``framework`` on a fresh port, one worker, no access log.

    Args:
        framework: what to serve.
        loop: uvicorn ``--loop`` (``uvloop`` or ``asyncio``), the same for every server.
        http: uvicorn ``--http`` (``httptools`` or ``h11``), the same for every server.
        core: CPU core to pin the process to with taskset (``None``: not pinned).
        env: environment variables added to the server's (service URLs and the like).
        start_timeout: seconds to wait for the first 200 before giving up.
    """

    def __init__(
        self,
        framework: Framework,
        *,
        loop: str,
        http: str,
        core: int | None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.framework = framework
        self.loop = loop
        self.http = http
        self.core = core
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    @property
    def pid(self) -> int:
        """Pid of the running server (taskset execs uvicorn, so it is uvicorn's pid)."""
        if self.process is None:
            raise RuntimeError("the server is not running: call start() first")
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        """The command line that starts this server."""
        python = str(self.framework.python())
        if self.framework.server == "gunicorn":
            command = [
                python, "-m", "gunicorn", self.framework.app,
                "--chdir", str(self.framework.app_dir),
                "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                "--worker-class", "sync", "--log-level", "warning",
            ]  # fmt: skip
        elif self.framework.server == "granian":
            command = [
                python, "-m", "granian", self.framework.app,
                "--interface", "asgi", "--working-dir", str(self.framework.app_dir),
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", "1", "--runtime-threads", "1", "--http", "1", "--no-ws",
                "--loop", "uvloop" if self.loop == "uvloop" else "asyncio",
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
        else:
            command = self._uvicorn(python)
        if self.core is not None:
            command = ["taskset", "-c", str(self.core), *command]
        return command

    def _uvicorn(self, python: str) -> list[str]:
        return [
            python, "-m", "uvicorn", self.framework.app,
            "--app-dir", str(self.framework.app_dir),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", self.loop, "--http", self.http,
            "--lifespan", "on" if self.framework.lifespan else "off",
            "--no-access-log", "--log-level", "warning",
            "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip

    def start(self) -> float:
        """Start the process and poll ``GET /`` until it answers 200.

        Returns:
            Seconds from spawning the process to the first 200 response.

        Raises:
            BenchError: the process exited, answered something else than 200, or did
                not answer within ``start_timeout``; the message has its output.
        """
        self.port = free_port()
        environ = {**os.environ, **self.framework.env, **self.env}
        environ.pop("PYTHONDONTWRITEBYTECODE", None)
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environ,
            cwd=self.framework.app_dir,
        )
        deadline = started + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise self._failure(f"exited with code {self.process.returncode} before answering")
            try:
                answer = fetch(self.port, timeout=2.0)
            except OSError:
                if time.perf_counter() > deadline:
                    self.stop()
                    raise self._failure(
                        f"did not answer GET / within {self.start_timeout:g}s"
                    ) from None
                time.sleep(0.002)
                continue
            elapsed = time.perf_counter() - started
            if answer.status != 200:
                self.stop()
                raise self._failure(f"answered GET / with {answer.status}: {answer.body[:300]!r}")
            return elapsed

    def output(self) -> str:
        """What the server printed so far (stdout and stderr together)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _failure(self, what: str) -> BenchError:
        tail = "\n".join(self.output().strip().splitlines()[-25:])
        return BenchError(
            f"The `{self.framework.name}` server ({self.framework.app}) {what}.\n"
            f"Command: {' '.join(self.command())}\nIts output ends with:\n{tail or '(nothing)'}"
        )

    def stop(self) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); returns its exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return process.returncode

    def close(self) -> None:
        """Stop the server and drop its captured output."""
        self.stop()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
