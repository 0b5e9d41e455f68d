"""What a run needs from the machine: tools, cores, services, the peers venv, versions."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.errors import BenchError
from bench.frameworks import BENCH_DIR, PEERS_PYTHON, PEERS_VENV, REPO_ROOT, Framework

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_REDIS_URL",
    "PEERS_REQUIREMENTS",
    "SERVER_REQUIREMENTS",
    "check_cores",
    "ensure_database",
    "ensure_peers_venv",
    "ensure_redis",
    "ensure_taskset",
    "ensure_wrk",
    "machine_info",
    "reexec_with_speedups",
    "server_options",
    "versions",
]

SERVER_REQUIREMENTS = BENCH_DIR / "requirements-server.txt"
PEERS_REQUIREMENTS = BENCH_DIR / "requirements-peers.txt"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/stellate_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

#: Set while the harness re-runs itself under ``uv run --with-requirements``, so it
#: tries only once and says so when the speedups still cannot be imported.
_REEXEC_MARKER = "STELLATE_BENCH_REEXEC"

_WRK_INSTALL = "apt-get update && apt-get install -y wrk"


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def reexec_with_speedups(argv: Sequence[str], module: str = "bench") -> None:
    """Re-run ``python -m MODULE ARGV`` with uvloop and httptools when they are missing.

    They are not workspace dependencies; ``uv run --with-requirements`` layers the
    pinned versions of ``bench/requirements-server.txt`` over the workspace venv for
    this run only (the peers venv pins the same versions). Returns when they are
    importable already or the re-run was tried; otherwise does not return.
    """
    if _importable("uvloop") and _importable("httptools") and _importable("granian"):
        return
    if os.environ.get(_REEXEC_MARKER):
        print(
            "warning: uvloop/httptools still not importable after `uv run --with-requirements "
            f"{SERVER_REQUIREMENTS.relative_to(REPO_ROOT)}`: servers use asyncio + h11",
            file=sys.stderr,
        )
        return
    uv = shutil.which("uv")
    if uv is None:
        print(
            "warning: uvloop/httptools are not installed and `uv` is not on PATH: servers "
            "use asyncio + h11 (install uv, or run with --no-speedups to silence this)",
            file=sys.stderr,
        )
        return
    command = [
        uv, "run", "--frozen", "--with-requirements", str(SERVER_REQUIREMENTS),
        "python", "-m", module, *argv,
    ]  # fmt: skip
    print(f"re-running with uvloop + httptools: {' '.join(command[1:])}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os.environ[_REEXEC_MARKER] = "1"
    os.chdir(REPO_ROOT)
    os.execv(uv, command)


def server_options(*, speedups: bool) -> tuple[str, str]:
    """The ``(--loop, --http)`` uvicorn options every server of a run gets."""
    if speedups and _importable("uvloop") and _importable("httptools"):
        return "uvloop", "httptools"
    return "asyncio", "h11"


def ensure_wrk() -> str:
    """Path of ``wrk``, installing Debian's package first when running as root.

    Raises:
        BenchError: wrk is missing and cannot be installed here (the message gives the
            command to run).
    """
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError(f"wrk is not installed: run `sudo sh -c '{_WRK_INSTALL}'`")
    print(f"wrk is missing: running `{_WRK_INSTALL}`", file=sys.stderr)
    result = subprocess.run(
        ["sh", "-c", _WRK_INSTALL],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    found = shutil.which("wrk")
    if result.returncode != 0 or not found:
        raise BenchError(
            f"Installing wrk failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}\nRun `{_WRK_INSTALL}` yourself and retry"
        )
    return found


def ensure_taskset() -> str:
    """Path of ``taskset`` (util-linux), which pins servers and wrk to cores.

    Raises:
        BenchError: taskset is not installed.
    """
    found = shutil.which("taskset")
    if not found:
        raise BenchError("taskset is not installed: run `apt-get install -y util-linux`")
    return found


def check_cores(server_core: int, wrk_core: int) -> None:
    """Check both cores exist for this process and differ.

    Raises:
        BenchError: naming the core that is not available.
    """
    available = sorted(os.sched_getaffinity(0))
    if server_core == wrk_core:
        raise BenchError(
            f"--server-core and --wrk-core are both `{server_core}`: the load generator "
            "must not share the server's core; pick two of " + str(available)
        )
    for option, core in (("--server-core", server_core), ("--wrk-core", wrk_core)):
        if core not in available:
            raise BenchError(
                f"{option} `{core}` is not a core this process may use: pick from {available}"
            )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def ensure_database(url: str) -> None:
    """Check PostgreSQL answers at ``url``, creating its database when it is missing.

    Raises:
        BenchError: the server is unreachable or the database cannot be created.
    """
    try:
        asyncio.run(_ensure_database(url))
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(
            f"PostgreSQL at `{_redacted(url)}` is not usable ({type(exc).__name__}: {exc}): "
            "start it (see .ci/run) or pass --database-url"
        ) from None


async def _ensure_database(url: str) -> None:
    import asyncpg  # the orm plugin's driver; only needed for this check

    try:
        connection = await asyncpg.connect(url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=5)
        try:
            quoted = '"' + name.replace('"', '""') + '"'
            await admin.execute(f"CREATE DATABASE {quoted}")
        finally:
            await admin.close()
        connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.fetchval("SELECT 1")
    finally:
        await connection.close()


def ensure_redis(url: str) -> None:
    """Check Redis answers ``PING`` at ``url`` (``redis://host:port/db``).

    Raises:
        BenchError: the server is unreachable or does not answer PONG.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise BenchError(
            f"--redis-url `{_redacted(url)}` is not a redis:// URL: pass e.g. {DEFAULT_REDIS_URL}"
        )
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=3) as connection:
            if parts.password:
                connection.sendall(f"AUTH {parts.password}\r\n".encode())
                connection.recv(64)
            connection.sendall(b"PING\r\n")
            answer = connection.recv(64)
    except OSError as exc:
        raise BenchError(
            f"Redis at `{_redacted(url)}` is not reachable ({exc}): start it (see .ci/run) "
            "or pass --redis-url"
        ) from None
    if not answer.startswith(b"+PONG"):
        raise BenchError(f"Redis at `{_redacted(url)}` answered {answer!r} to PING, not +PONG")


def ensure_peers_venv() -> None:
    """Create ``bench/peers/.venv`` with the pinned peers, unless it is up to date.

    FastAPI and Litestar never become workspace dependencies: they live in this
    separate venv, built from ``bench/requirements-peers.txt`` with the same
    interpreter version as the workspace.

    Raises:
        BenchError: uv is missing or the install failed (the message has uv's output).
    """
    stamp = PEERS_VENV / ".requirements-sha256"
    digest = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()
    if PEERS_PYTHON.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    uv = shutil.which("uv")
    if uv is None:
        raise BenchError("uv is not on PATH, so the peers venv cannot be built: pip install uv")
    interpreter = os.path.realpath(sys.executable)
    steps = [
        [uv, "venv", "--quiet", "--clear", "--python", interpreter, str(PEERS_VENV)],
        [uv, "pip", "install", "--quiet", "--python", str(PEERS_PYTHON),
         "-r", str(PEERS_REQUIREMENTS)],
    ]  # fmt: skip
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise BenchError(
                f"Building the peers venv failed at `{' '.join(step[1:])}` "
                f"(exit {result.returncode}): {result.stderr.strip()[-800:]}"
            )
    stamp.write_text(digest)


_VERSION_SCRIPT = """
import importlib.metadata as m, json, sys
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""

_MAIN_DISTRIBUTIONS: tuple[str, ...] = (
    "starlette", "uvicorn", "uvloop", "httptools", "h11", "msgspec", "stellate-core",
    "stellate-orm", "stellate-rest", "stellate-auth", "stellate-tasks", "stellate-admin",
    "asyncpg", "arq", "redis",
)  # fmt: skip
_PEER_DISTRIBUTIONS: tuple[str, ...] = (
    "fastapi", "litestar", "pydantic", "starlette", "uvicorn", "uvloop", "httptools", "msgspec",
)  # fmt: skip


def versions(frameworks: Sequence[Framework]) -> dict[str, dict[str, str]]:
    """Installed versions that matter, per interpreter (``workspace`` and ``peers``)."""
    found: dict[str, dict[str, str]] = {}
    groups: list[tuple[str, Path, tuple[str, ...]]] = [
        ("workspace", Path(sys.executable), _MAIN_DISTRIBUTIONS)
    ]
    if any(item.peer for item in frameworks):
        groups.append(("peers", PEERS_PYTHON, _PEER_DISTRIBUTIONS))
    for label, python, names in groups:
        result = subprocess.run(
            [str(python), "-c", _VERSION_SCRIPT, *names],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        found[label] = json.loads(result.stdout) if result.returncode == 0 else {}
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """The machine a run happened on, for the report."""
    return {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


@contextlib.contextmanager
def environ_set(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` for the block only, the previous values restored.

    The harness builds apps inside its own process (and its tests inside pytest's):
    leaving a benchmark's production settings behind would change every app built
    afterwards.
    """
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
