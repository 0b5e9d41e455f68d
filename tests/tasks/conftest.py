"""Fixtures for stellate-tasks tests: a real Redis, apps with a key prefix per test.

Every key a test run writes contains the run's prefix (queues, job ids, failed jobs),
so runs sharing one Redis never collide and teardown deletes only this run's keys.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from tasks_helpers import RUN_PREFIX, new_prefix

from stellate.core import App
from stellate.tasks import TasksPlugin


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """STELLATE_TEST_REDIS_URL, or an embedded Redis when it is unset."""
    url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from stellate.tasks.embedded import start_embedded_redis, stop_embedded_redis

    server, embedded_url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    yield embedded_url
    stop_embedded_redis(server)


@pytest.fixture(scope="session")
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain Redis client; at the end, deletes every key of this run (and only those)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"*{RUN_PREFIX}*", count=1000)]
    if keys:
        await client.delete(*keys)
    members = await client.zrange("arq:abort", 0, -1)
    ours = [m for m in members if m.decode().startswith(RUN_PREFIX)]
    if ours:
        await client.zrem("arq:abort", *ours)
    await client.aclose()


@pytest.fixture
async def make_app(
    redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[Callable[..., App]]:
    """Build apps with the tasks plugin on the test Redis; their connections close after."""
    apps: list[App] = []

    def make(**settings: Any) -> App:
        tasks_settings: dict[str, Any] = {
            "redis_url": redis_url,
            "tasks_prefix": new_prefix(),
            "tasks_poll_delay": 0.01,
            "tasks_keep_result": 60.0,
            "tasks_shutdown_grace": 1.0,
            "tasks_embedded_dir": str(tmp_path / "embedded"),
        }
        tasks_settings.update(settings)
        app = App(plugins=[TasksPlugin()], settings={"tasks": tasks_settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.tasks.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """An app with the tasks plugin on the test Redis."""
    return make_app()
