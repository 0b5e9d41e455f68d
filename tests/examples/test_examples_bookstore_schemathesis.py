"""Schemathesis over the bookstore's OpenAPI document: no 5xx, every response as documented.

The app runs under uvicorn exactly as the README starts it (embedded PostgreSQL and
Redis under a temporary folder, demo data), and the schemathesis CLI generates a
bounded number of cases per operation, anonymously and then with the demo staff
session and its CSRF token. The full run (more examples) belongs to a nox session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,response_schema_conformance"
EXAMPLES = os.environ.get("STELLATE_SCHEMATHESIS_EXAMPLES", "20")
# The full run (`nox -s reliability`) sends many more examples and needs longer.
TIMEOUT = float(os.environ.get("STELLATE_SCHEMATHESIS_TIMEOUT", "300"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("schemathesis")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("STELLATE_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env["PYTHONPATH"] = str(REPO)
    port = _free_port()
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.bookstore.app:app", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def _schemathesis(base: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command is not None, "schemathesis is in the dev dependency group: run `uv sync`"
    return subprocess.run(
        [
            command,
            "run",
            f"{base}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261125",
            "--no-color",
            "--generation-database",
            "none",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=Path(tempfile.gettempdir()),  # its report folder stays out of the repository
    )


def test_anonymous_requests_get_no_5xx_and_documented_responses(server: str) -> None:
    result = _schemathesis(server)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_staff_session_requests_get_no_5xx_and_documented_responses(server: str) -> None:
    with httpx.Client(base_url=server) as http:
        login = http.post(
            "/auth/login", json={"username": "editor", "password": "paper-lantern-harbour"}
        )
        assert login.status_code == 200, login.text
        cookies = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        token = login.json()["csrf_token"]
    result = _schemathesis(
        server,
        "--header",
        f"Cookie: {cookies}",
        "--header",
        f"X-CSRF-Token: {token}",
        # The auth routes (logout, password change, login) end or replace the session the
        # run depends on, and the anonymous run covers them; without this exclusion most
        # write operations would only ever see 401/403.
        "--exclude-path-regex",
        "^/auth/",
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "Authentication failed" not in result.stdout, result.stdout[-3000:]
