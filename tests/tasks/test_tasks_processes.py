"""Worker processes: the CLI entry, graceful SIGTERM, recovery after SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis
from tasks_helpers import new_prefix

from stellate.core import App
from stellate.tasks import TasksPlugin, TaskStatus

HERE = Path(__file__).parent


def _start_worker(redis_url: str, prefix: str, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STELLATE_REDIS_URL": redis_url,
        "STELLATE_TASKS_PREFIX": prefix,
        "STELLATE_TASKS_POLL_DELAY": "0.01",
        "STELLATE_TASKS_SHUTDOWN_GRACE": "5",
        "PYTHONPATH": str(HERE),
    }
    # The real `stellate` command, which loads the app's plugin commands.
    stellate = str(Path(sys.executable).parent / "stellate")
    return subprocess.Popen(
        [stellate, "--app", "tasks_worker_app:app", "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _client_app(redis_url: str, prefix: str) -> App:
    # The same tasks as the worker's app: import it under the same configuration.
    app = App(
        plugins=[TasksPlugin()],
        settings={"tasks": {"redis_url": redis_url, "tasks_prefix": prefix}},
    )
    sys.path.insert(0, str(HERE))
    try:
        import tasks_worker_app
    finally:
        sys.path.remove(str(HERE))
    app.tasks.register(tasks_worker_app.slow)
    return app


async def _wait_for(check: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_burst_worker_process_runs_queued_jobs(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    prefix = new_prefix()
    app = _client_app(redis_url, prefix)
    counter = f"{prefix}counter"
    handle = await app.tasks.tasks[next(iter(app.tasks.tasks))].enqueue(counter, 0.0)
    process = _start_worker(redis_url, prefix, "--burst")
    out, err = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"worker stopped: 1 complete, 0 failed" in out
    assert await handle.result(timeout=1) == "run 1"
    await app.tasks.close()


async def test_sigterm_lets_the_running_job_finish(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    prefix = new_prefix()
    app = _client_app(redis_url, prefix)
    counter = f"{prefix}counter"
    task = app.tasks.tasks[next(iter(app.tasks.tasks))]
    process = _start_worker(redis_url, prefix)
    try:
        handle = await task.enqueue(counter, 0.6)
        await _wait_for(lambda: redis_client.get(counter), 10)
        assert await handle.status() is TaskStatus.IN_PROGRESS
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(process.communicate, timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    assert await handle.result(timeout=1) == "run 1"
    assert b"1 complete" in out
    await app.tasks.close()


async def test_job_of_a_killed_worker_runs_again_on_another(
    redis_url: str, redis_client: aioredis.Redis
) -> None:
    prefix = new_prefix()
    app = _client_app(redis_url, prefix)
    counter = f"{prefix}counter-{uuid.uuid4().hex[:6]}"
    task = app.tasks.tasks[next(iter(app.tasks.tasks))]
    first = _start_worker(redis_url, prefix)
    second: subprocess.Popen[bytes] | None = None
    try:
        handle = await task.enqueue(counter, 30.0)
        await _wait_for(lambda: redis_client.get(counter), 10)
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = _start_worker(redis_url, prefix)
        # arq's lock on the job outlives the dead worker by the task's timeout plus 11 s.
        assert await handle.result(timeout=25) == "run 2"
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        for process in (first, second):
            if process is not None:
                process.communicate()
    await app.tasks.close()
