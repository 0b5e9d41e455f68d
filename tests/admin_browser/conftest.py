"""A live newsroom server and a headless Chromium for the admin's browser tests.

The server is started as the example's README tells a newcomer to (``uvicorn
examples.newsroom.app:app`` with no Stellate environment), in a temporary working
directory, so it runs on the embedded PostgreSQL, migrates, seeds the demo articles
and creates the demo staff account. The newsroom is the example with the field kinds
the admin renders specially (an enum, a bool, a date, soft-deleted rows). The browser
is Debian's ``chromium`` driven by playwright (its own browser download does not work
on our machines).

Screenshots of the main pages are kept under ``test-artifacts/admin/`` (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "admin"
CHROMIUM = os.environ.get("STELLATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_configure() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The newsroom served by uvicorn on a free port; yields its base URL."""
    workdir = tmp_path_factory.mktemp("newsroom")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("STELLATE_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env["PYTHONPATH"] = str(REPO)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.newsroom.app:app", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"the newsroom server exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the newsroom server did not start in 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium; fails with the fix when it is not installed.

    Playwright's async API on the tests' session loop: its sync API runs a loop of
    its own in this thread and leaves asyncio unusable for the tests that follow.
    """
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (one stat at session start)
        pytest.fail(
            f"Chromium not found at `{CHROMIUM}`: `apt-get install chromium` (what .ci/run "
            "does), or point STELLATE_CHROMIUM at a Chromium binary"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Any, str], Awaitable[Path]]:
    """``screenshot(page, name)`` saves ``test-artifacts/admin/<name>.png`` (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def save(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return save
