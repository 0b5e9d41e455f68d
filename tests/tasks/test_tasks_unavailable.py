"""Redis down, hung or back: clear errors within the timeout, the app keeps serving."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from stellate.core import App, Request
from stellate.core.testing import AppClient
from stellate.tasks import TaskQueueUnavailable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A redis-server of this test's own, which the test can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


def _app_with_routes(make_app: Callable[..., App], url: str, **settings: object) -> App:
    app = make_app(redis_url=url, tasks_enqueue_timeout=1.0, **settings)

    @app.task
    async def job() -> str:
        return "done"

    @app.post("/jobs")
    async def create(request: Request) -> dict[str, str]:
        handle = await job.enqueue()
        return {"id": handle.id}

    @app.get("/ping")
    async def ping(request: Request) -> dict[str, str]:
        return {"pong": "yes"}

    app.mount_health()
    return app


async def test_redis_down_then_back(make_app: Callable[..., App], own_redis: RedisProcess) -> None:
    app = _app_with_routes(make_app, own_redis.url)
    async with AppClient(app) as client:
        assert (await client.post("/jobs")).status_code == 200
        assert (await client.get("/health")).json()["checks"]["tasks"] == "ok"

        own_redis.stop()
        start = time.monotonic()
        with pytest.raises(TaskQueueUnavailable) as info:
            await app.tasks.enqueue(next(iter(app.tasks.tasks)))
        assert time.monotonic() - start < 1.5
        assert f"`{own_redis.url}` is unavailable" in str(info.value)
        assert "STELLATE_REDIS_URL" in str(info.value)

        down = await client.post("/jobs")
        assert down.status_code == 503
        assert "is unavailable" in down.json()["detail"]
        assert (await client.get("/ping")).status_code == 200
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["checks"]["tasks"] == "error: TaskQueueUnavailable"
        assert str(own_redis.port) not in health.text  # nor the host and port

        own_redis.start()
        # No restart: the next enqueue reconnects.
        assert (await client.post("/jobs")).status_code == 200
        assert (await client.get("/health")).status_code == 200


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield int(port)
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_hung_redis_times_out(make_app: Callable[..., App], silent_server: int) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{silent_server}/0", tasks_enqueue_timeout=0.3)

    @app.task
    async def job() -> None:
        return None

    start = time.monotonic()
    with pytest.raises(TaskQueueUnavailable, match=r"no answer within 0.3s|Timeout"):
        await job.enqueue()
    assert time.monotonic() - start < 1.0
    with pytest.raises(TaskQueueUnavailable):
        await app.tasks.ping()


async def test_password_is_hidden_in_errors(make_app: Callable[..., App]) -> None:
    port = _free_port()
    app = make_app(redis_url=f"redis://user:s3cret@127.0.0.1:{port}/0")

    @app.task
    async def job() -> None:
        return None

    with pytest.raises(TaskQueueUnavailable) as info:
        await job.enqueue()
    assert "s3cret" not in str(info.value)
    assert f"redis://user:***@127.0.0.1:{port}/0" in str(info.value)
