"""Enqueue, run in a real worker, read results: the main path and its bad inputs."""

from __future__ import annotations

import asyncio
import datetime
import threading
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import stellate.tasks
from stellate.core import App
from stellate.tasks import (
    Task,
    TaskArgumentError,
    TaskFailed,
    TaskStatus,
    task,
)


class Point(msgspec.Struct):
    x: int
    y: int


def test_all_is_complete_and_sorted() -> None:
    public = {
        name
        for name, value in vars(stellate.tasks).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("stellate.")
    }
    assert stellate.tasks.__all__ == sorted(stellate.tasks.__all__)
    assert public <= set(stellate.tasks.__all__)


async def test_enqueue_runs_in_worker_and_returns_result(app: App) -> None:
    @app.task
    async def add(a: int, b: int) -> int:
        return a + b

    async with app.tasks.worker():
        handle = await add.enqueue(2, 3)
        assert await handle.result(timeout=5) == 5
        assert await handle.status() is TaskStatus.COMPLETE
    assert handle.task_name.endswith("add")
    assert not handle.duplicate


async def test_arguments_come_back_as_their_annotated_types(app: App) -> None:
    seen: list[Any] = []

    @app.task
    async def record(when: datetime.datetime, point: Point, ident: uuid.UUID) -> Point:
        seen.append((when, point, ident))
        return Point(point.y, point.x)

    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ident = uuid.uuid4()
    async with app.tasks.worker():
        result = await (await record.enqueue(when, Point(1, 2), ident=ident)).result(timeout=5)
    assert seen == [(when, Point(1, 2), ident)]
    assert result == Point(2, 1)


async def test_sync_task_runs_in_a_thread(app: App) -> None:
    @app.task
    def whoami() -> bool:
        return threading.current_thread() is not threading.main_thread()

    async with app.tasks.worker():
        assert await (await whoami.enqueue()).result(timeout=5) is True


async def test_duplicate_job_id_is_deduplicated(app: App) -> None:
    calls: list[int] = []

    @app.task
    async def once(n: int) -> int:
        calls.append(n)
        return n

    first = await once.enqueue(1, _job_id="report-42")
    second = await once.enqueue(2, _job_id="report-42")
    assert first.id == second.id == "report-42"
    assert (first.duplicate, second.duplicate) == (False, True)
    async with app.tasks.worker():
        assert await second.result(timeout=5) == 1
    # The kept result still dedups the id after the job finished.
    third = await once.enqueue(3, _job_id="report-42")
    assert third.duplicate
    assert calls == [1]


async def test_deferred_job_waits(app: App) -> None:
    @app.task
    async def ping() -> str:
        return "pong"

    loop = asyncio.get_running_loop()
    async with app.tasks.worker():
        start = loop.time()
        handle = await ping.enqueue(_defer_by=0.4)
        assert await handle.status() is TaskStatus.DEFERRED
        assert await handle.result(timeout=5) == "pong"
        assert loop.time() - start >= 0.38
    with pytest.raises(ValueError, match="not both"):
        await ping.enqueue(_defer_by=1, _defer_until=datetime.datetime.now(datetime.UTC))


async def test_status_queued_then_not_found(app: App) -> None:
    @app.task
    async def noop() -> None:
        return None

    handle = await noop.enqueue()
    assert await handle.status() is TaskStatus.QUEUED
    unknown = app.tasks.handle("no-such-job", noop)
    assert await unknown.status() is TaskStatus.NOT_FOUND


async def test_unserialisable_argument_fails_at_enqueue_naming_it(app: App) -> None:
    @app.task
    async def store(name: str, payload: Any, **extra: Any) -> None:
        return None

    with pytest.raises(TaskArgumentError, match=r"Argument `payload` of task `.*store`.*`object`"):
        await store.enqueue("x", object())
    with pytest.raises(TaskArgumentError, match=r"Argument `lock`"):
        await store.enqueue("x", 1, lock=threading.Lock())
    stats = await app.tasks.stats()
    assert stats.queues["default"].queued == 0


async def test_wrong_arguments_fail_at_enqueue(app: App) -> None:
    @app.task
    async def two(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TaskArgumentError, match=r"cannot take these arguments.*missing"):
        await two.enqueue(1)
    with pytest.raises(TaskArgumentError, match="unexpected keyword"):
        await two.enqueue(1, 2, c=3)


async def test_argument_not_matching_annotation_fails_in_worker(app: App) -> None:
    @app.task(max_retries=3, retry_delay=0.01)
    async def double(n: int) -> int:
        return n * 2

    async with app.tasks.worker():
        handle = await double.enqueue("not a number")
        with pytest.raises(TaskFailed, match=r"Argument `n` .* does not match") as info:
            await handle.result(timeout=5)
    assert info.value.error_type == "stellate.tasks.exceptions.TaskArgumentError"
    # A bad argument is not retried: it would fail the same way every time.
    record = await app.tasks.failed.get(handle.id)
    assert record is not None
    assert record.attempts == 1


async def test_unserialisable_result_fails_clearly(app: App) -> None:
    @app.task
    async def bad() -> Any:
        return threading.Lock()

    async with app.tasks.worker():
        with pytest.raises(TaskFailed, match=r"returned a `lock`, which cannot be serialised"):
            await (await bad.enqueue()).result(timeout=5)


async def test_module_level_task_needs_registration(make_app: Callable[..., App]) -> None:
    @task(name="tests.module_level_square")
    async def square(n: int) -> int:
        return n * n

    assert isinstance(square, Task)
    assert await square(3) == 9
    assert await square.run(3) == 9

    @task
    def cube(n: int) -> int:
        return n**3

    assert cube(2) == 8
    assert await cube.run(2) == 8
    assert cube.name.endswith("cube")
    with pytest.raises(RuntimeError, match=r"not registered with an app.*register"):
        await square.enqueue(3)
    app = make_app()
    app.tasks.register(square)
    async with app.tasks.worker():
        assert await (await square.enqueue(4)).result(timeout=5) == 16
        by_name = await app.tasks.enqueue("tests.module_level_square", 5)
        assert await by_name.result(timeout=5) == 25


async def test_two_tasks_with_one_name_are_refused(app: App) -> None:
    @app.task(name="same")
    async def first() -> None:
        return None

    with pytest.raises(ValueError, match="Two tasks are named `same`"):

        @app.task(name="same")
        async def second() -> None:
            return None


async def test_tasks_run_concurrently(app: App) -> None:
    started = 0
    both = asyncio.Event()

    @app.task
    async def meet() -> bool:
        nonlocal started
        started += 1
        if started == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 2)
        return True

    async with app.tasks.worker(concurrency=4):
        handles = [await meet.enqueue() for _ in range(2)]
        assert [await h.result(timeout=5) for h in handles] == [True, True]


async def test_queues_route_jobs_to_their_workers(app: App) -> None:
    @app.task(queue="mail")
    async def send() -> str:
        return "sent"

    handle = await send.enqueue()
    async with app.tasks.worker(queues=["default"], burst=True):
        pass
    assert await handle.status() is TaskStatus.QUEUED
    async with app.tasks.worker(queues=["mail"]):
        assert await handle.result(timeout=5) == "sent"


async def test_defer_until_a_time(app: App) -> None:
    @app.task
    async def later() -> str:
        return "now"

    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=0.3)
    async with app.tasks.worker():
        handle = await later.enqueue(_defer_until=when)
        assert await handle.status() is TaskStatus.DEFERRED
        assert await handle.result(timeout=5) == "now"
    assert datetime.datetime.now(datetime.UTC) >= when


async def test_job_of_a_task_the_worker_does_not_know_fails_clearly(
    make_app: Callable[..., App],
) -> None:
    producer = make_app()

    @producer.task(name="renamed.since")
    async def old() -> None:
        return None

    handle = await old.enqueue()
    # A worker of the same queue whose code no longer has that task.
    consumer = make_app(tasks_prefix=producer.tasks.prefix)

    @consumer.task(name="something.else")
    async def other() -> None:
        return None

    async with consumer.tasks.worker():
        with pytest.raises(TaskFailed, match=r"function 'renamed.since' not found"):
            await handle.result(timeout=5)
