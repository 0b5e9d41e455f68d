"""Retries, backoff, hooks, timeouts and the failed-jobs store, through a real worker."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from stellate.core import App
from stellate.tasks import RetryPolicy, TaskFailed, TaskStatus


async def test_retries_then_success_runs_hooks_in_order(app: App) -> None:
    events: list[tuple[Any, ...]] = []
    attempts = 0

    def on_retry(exc: BaseException, attempt: int) -> None:
        events.append(("retry", type(exc).__name__, attempt))

    async def on_success(result: Any) -> None:
        events.append(("success", result))

    @app.task(
        max_retries=3,
        retry_delay=0.01,
        retry_on=(ConnectionError,),
        on_retry=on_retry,
        on_success=on_success,
    )
    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError(f"down #{attempts}")
        return "data"

    async with app.tasks.worker():
        assert await (await flaky.enqueue()).result(timeout=5) == "data"
    assert events == [
        ("retry", "ConnectionError", 1),
        ("retry", "ConnectionError", 2),
        ("success", "data"),
    ]
    assert await app.tasks.failed.count() == 0


async def test_retries_exhausted_land_in_failed_store_and_run_on_failure(app: App) -> None:
    events: list[tuple[Any, ...]] = []

    @app.task(
        max_retries=2,
        retry_delay=0.01,
        on_retry=lambda exc, attempt: events.append(("retry", attempt)),
        on_failure=lambda exc: events.append(("failure", str(exc))),
    )
    async def always_down(url: str) -> None:
        raise ConnectionError(f"cannot reach {url}")

    async with app.tasks.worker():
        handle = await always_down.enqueue("https://example.invalid")
        with pytest.raises(TaskFailed) as info:
            await handle.result(timeout=5)
        assert await handle.status() is TaskStatus.FAILED
    assert info.value.error_type == "ConnectionError"
    assert "cannot reach https://example.invalid" in str(info.value)
    assert "raise ConnectionError" in info.value.traceback
    assert events == [
        ("retry", 1),
        ("retry", 2),
        ("failure", "cannot reach https://example.invalid"),
    ]
    [record] = await app.tasks.failed.list()
    assert record.id == handle.id
    assert record.task == always_down.name
    assert record.attempts == 3
    assert record.args == ["https://example.invalid"]
    assert record.error_type == "ConnectionError"
    assert "Traceback" in record.traceback


async def test_exception_outside_retry_on_fails_at_once(app: App) -> None:
    attempts = 0
    failures: list[BaseException] = []

    async def on_failure(exc: BaseException) -> None:
        failures.append(exc)

    @app.task(max_retries=5, retry_delay=0.01, retry_on=(ConnectionError,), on_failure=on_failure)
    async def broken() -> None:
        nonlocal attempts
        attempts += 1
        raise ValueError("bad data")

    async with app.tasks.worker():
        with pytest.raises(TaskFailed, match="ValueError: bad data"):
            await (await broken.enqueue()).result(timeout=5)
    assert attempts == 1
    assert [type(exc) for exc in failures] == [ValueError]


async def test_timeout_fails_the_attempt_and_can_retry(app: App) -> None:
    attempts = 0

    @app.task(timeout=0.2, max_retries=1, retry_delay=0.01, retry_on=(TimeoutError,))
    async def slow() -> str:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(5)
        return "never"

    start = time.monotonic()
    async with app.tasks.worker():
        with pytest.raises(TaskFailed, match=r"TaskTimeout: .*did not finish within 0.2s") as info:
            await (await slow.enqueue()).result(timeout=5)
    assert attempts == 2
    assert time.monotonic() - start < 3
    assert info.value.error_type == "stellate.tasks.exceptions.TaskTimeout"


async def test_exponential_backoff_timing(app: App) -> None:
    starts: list[float] = []

    @app.task(max_retries=3, retry_delay=0.1, backoff="exponential")
    async def fails() -> None:
        starts.append(time.monotonic())
        raise ConnectionError("down")

    async with app.tasks.worker():
        with pytest.raises(TaskFailed):
            await (await fails.enqueue()).result(timeout=5)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 3
    # Expected 0.1, 0.2, 0.4 s; polling adds up to a few poll delays (0.01 s each).
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4], strict=True):
        assert expected - 0.01 <= gap <= expected + 0.15, gaps


def test_retry_policy_delays_and_validation() -> None:
    fixed = RetryPolicy(max_retries=3, retry_delay=2.0)
    assert [fixed.delay(n) for n in (1, 2, 3)] == [2.0, 2.0, 2.0]
    exponential = RetryPolicy(max_retries=5, retry_delay=1.0, backoff="exponential", max_delay=5)
    assert [exponential.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    jittered = RetryPolicy(retry_delay=4.0, backoff="exponential", jitter=True)
    samples = [jittered.delay(2) for _ in range(200)]
    assert all(4.0 <= s <= 8.0 for s in samples)
    assert len(set(samples)) > 100
    assert RetryPolicy(max_retries=1, retry_on=(KeyError,)).should_retry(KeyError(), 1)
    assert not RetryPolicy(max_retries=1, retry_on=(KeyError,)).should_retry(KeyError(), 2)
    assert not RetryPolicy(max_retries=1, retry_on=(KeyError,)).should_retry(ValueError(), 1)
    with pytest.raises(ValueError, match="backoff=`'linear'`"):
        RetryPolicy(backoff="linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_retries=`-1`"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(TypeError, match="retry_on holds `'oops'`"):
        RetryPolicy(retry_on=("oops",))  # type: ignore[arg-type]


async def test_bad_task_options_fail_at_declaration(app: App) -> None:
    with pytest.raises(ValueError, match="backoff"):

        @app.task(backoff="sometimes")
        async def one() -> None:
            return None

    with pytest.raises(ValueError, match=r"timeout=`0` .* must be > 0"):

        @app.task(timeout=0)
        async def two() -> None:
            return None


async def test_failed_job_can_be_retried_and_removed(app: App) -> None:
    healthy = False

    @app.task
    async def depends() -> str:
        if not healthy:
            raise ConnectionError("not yet")
        return "ok"

    async with app.tasks.worker():
        handle = await depends.enqueue()
        with pytest.raises(TaskFailed):
            await handle.result(timeout=5)
        assert (await app.tasks.failed.get(handle.id)) is not None
        healthy = True
        again = await app.tasks.failed.retry(handle.id)
        assert again.id != handle.id
        assert await again.result(timeout=5) == "ok"
    assert await app.tasks.failed.get(handle.id) is None
    with pytest.raises(KeyError, match="No failed job with id `nope`"):
        await app.tasks.failed.retry("nope")


async def test_failed_store_keeps_only_the_newest(make_app: Any) -> None:
    app = make_app(tasks_failed_limit=2)

    @app.task
    async def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    async with app.tasks.worker():
        handles = [await boom.enqueue(n) for n in range(4)]
        for handle in handles:
            with pytest.raises(TaskFailed):
                await handle.result(timeout=5)
    records = await app.tasks.failed.list()
    assert len(records) == 2
    assert await app.tasks.failed.count() == 2


async def test_each_attempt_logs_a_structured_line(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    @app.task(max_retries=1, retry_delay=0.01)
    async def wobbly() -> int:
        if not wobbly_state:
            wobbly_state.append(1)
            raise ConnectionError("blip")
        return 3

    wobbly_state: list[int] = []
    with caplog.at_level("INFO", logger="stellate.tasks.worker"):
        async with app.tasks.worker():
            handle = await wobbly.enqueue()
            assert await handle.result(timeout=5) == 3
    records = [r for r in caplog.records if getattr(r, "job_id", None) == handle.id]
    assert [(r.attempt, r.outcome) for r in records] == [(1, "retry"), (2, "success")]  # type: ignore[attr-defined]
    assert all(r.task == wobbly.name and r.duration_ms >= 0 for r in records)  # type: ignore[attr-defined]
