"""TaskGroup, cron schedules (parsing and single runs across workers) and abort."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from stellate.core import App
from stellate.tasks import (
    ResultTimeout,
    TaskAborted,
    TaskFailed,
    TaskGroup,
    TaskGroupError,
    TaskStatus,
    parse_cron,
)


async def test_group_returns_results_in_order(app: App) -> None:
    @app.task
    async def square(n: int) -> int:
        # Later items finish first: order must come from the group, not completion.
        await asyncio.sleep(0.05 * (5 - n))
        return n * n

    group = TaskGroup()
    for n in range(5):
        group.add(square, n)
    async with app.tasks.worker():
        assert await group.run(timeout=10) == [0, 1, 4, 9, 16]
    assert len(group) == len(group.handles) == 5


async def test_group_reports_every_failed_item(app: App) -> None:
    @app.task
    async def check(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    group = TaskGroup()
    for n in range(4):
        group.add(check, n)
    async with app.tasks.worker():
        with pytest.raises(TaskGroupError) as info:
            await group.run(timeout=10)
        mixed = await group.run(timeout=10, return_exceptions=True)
    error = info.value
    assert [index for index, _ in error.errors] == [1, 3]
    assert error.results[0] == 0
    assert error.results[2] == 2
    assert isinstance(error.results[1], TaskFailed)
    assert "2 of 4 tasks in the group failed" in str(error)
    assert "odd 1" in str(error)
    assert "odd 3" in str(error)
    assert mixed[0] == 0
    assert isinstance(mixed[3], TaskFailed)


async def test_group_timeout_reports_unfinished_items(app: App) -> None:
    @app.task
    async def nap(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    group = TaskGroup()
    group.add(nap, 0.0)
    group.add(nap, 3.0)
    async with app.tasks.worker(shutdown_grace=0):
        start = time.monotonic()
        with pytest.raises(TaskGroupError) as info:
            await group.run(timeout=0.5)
        assert time.monotonic() - start < 1.5
    assert info.value.results[0] == 0.0
    [(index, exc)] = info.value.errors
    assert index == 1
    assert isinstance(exc, ResultTimeout)
    assert "the group's 0.5s" in str(exc)


async def test_group_add_checks_arguments(app: App) -> None:
    @app.task
    async def one(n: int) -> int:
        return n

    with pytest.raises(TypeError, match="cannot take these arguments"):
        TaskGroup().add(one, 1, 2)
    with pytest.raises(TypeError, match=r"Argument `n` of task .* cannot be serialised"):
        TaskGroup().add(one, object())


async def test_group_run_sync_from_a_thread_and_refused_in_the_loop(app: App) -> None:
    @app.task
    async def double(n: int) -> int:
        return 2 * n

    group = TaskGroup()
    group.add(double, 21)
    async with app.tasks.worker():
        await app.tasks.ping()  # the queue's connection lives on this loop
        assert await asyncio.to_thread(group.run_sync, 5.0) == [42]
        with pytest.raises(RuntimeError, match=r"use `await group.run\(...\)`"):
            group.run_sync(5.0)


def test_parse_cron() -> None:
    every_five = parse_cron("*/5 * * * *")
    assert every_five.minute == frozenset(range(0, 60, 5))
    assert every_five.hour is None
    assert every_five.second == frozenset({0})
    office = parse_cron("30 9-17/4 * jan,jul mon-fri")
    assert office.minute == frozenset({30})
    assert office.hour == frozenset({9, 13, 17})
    assert office.month == frozenset({1, 7})
    # crontab counts Sunday as 0 (or 7); the schedule uses Python's Monday = 0.
    assert office.weekday == frozenset({0, 1, 2, 3, 4})
    assert parse_cron("0 0 * * 0,7").weekday == frozenset({6})
    with pytest.raises(ValueError, match="has 4 fields; it needs 5"):
        parse_cron("* * * *")
    with pytest.raises(ValueError, match=r"field `minute` .*`70` is out of range 0-59"):
        parse_cron("70 * * * *")
    with pytest.raises(ValueError, match=r"field `month` .*`smarch` is not a number or a name"):
        parse_cron("0 0 1 smarch *")
    with pytest.raises(ValueError, match=r"field `hour` .*runs backwards"):
        parse_cron("0 5-1 * * *")


async def test_cron_declaration_errors(app: App) -> None:
    with pytest.raises(ValueError, match="both a crontab and fields"):
        app.cron("* * * * *", second=1)
    with pytest.raises(TypeError, match=r"takes required arguments \(n\)"):

        @app.cron("* * * * *")
        async def needs(n: int) -> None:
            return None


async def test_cron_runs_once_per_schedule_across_two_workers(app: App) -> None:
    runs: list[float] = []

    @app.cron(second=set(range(60)))
    async def tick() -> None:
        runs.append(time.time())

    async with app.tasks.worker(), app.tasks.worker():
        start = time.time()
        await asyncio.sleep(3.2)
        end = time.time()
    seconds = [math.floor(t) for t in runs]
    # One run per scheduled second, never two, whatever worker enqueued it.
    assert len(seconds) == len(set(seconds)), runs
    expected = math.floor(end) - math.ceil(start)
    assert expected - 1 <= len(runs) <= expected + 2, (runs, start, end)


async def test_abort_a_queued_job(app: App) -> None:
    ran: list[int] = []

    @app.task
    async def work(n: int) -> None:
        ran.append(n)

    handle = await work.enqueue(1, _defer_by=30)
    assert await handle.abort() is True
    assert await handle.status() is TaskStatus.ABORTED
    with pytest.raises(TaskAborted, match="was aborted"):
        await handle.result(timeout=1)
    async with app.tasks.worker(burst=True):
        pass
    assert ran == []


async def test_abort_a_running_job(app: App) -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    @app.task
    async def long() -> None:
        started.set()
        await asyncio.sleep(10)
        finished.append(True)

    async with app.tasks.worker():
        handle = await long.enqueue()
        await asyncio.wait_for(started.wait(), 5)
        assert await handle.status() is TaskStatus.IN_PROGRESS
        assert await handle.abort(timeout=5) is True
        with pytest.raises(TaskAborted):
            await handle.result(timeout=1)
    assert finished == []


async def test_abort_a_finished_job_says_no(app: App) -> None:
    @app.task
    async def quick() -> int:
        return 1

    async with app.tasks.worker():
        handle = await quick.enqueue()
        assert await handle.result(timeout=5) == 1
        assert await handle.abort(timeout=0.2) is False
    assert await handle.status() is TaskStatus.COMPLETE
