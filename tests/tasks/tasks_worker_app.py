"""An app for worker-process tests: ``stellate --app tasks_worker_app:app worker``.

Configured from the environment (STELLATE_REDIS_URL, STELLATE_TASKS_PREFIX) by the
tests that start it; each run of ``slow`` increments a Redis counter, so a test can
see how many times the job started.
"""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as aioredis

from stellate.core import App
from stellate.tasks import TasksPlugin

app = App(plugins=[TasksPlugin()])


@app.task(timeout=1.0)
async def slow(key: str, seconds: float) -> str:
    client = aioredis.Redis.from_url(os.environ["STELLATE_REDIS_URL"])
    try:
        runs = await client.incr(key)
    finally:
        await client.aclose()
    if runs == 1:
        await asyncio.sleep(seconds)
    return f"run {runs}"
