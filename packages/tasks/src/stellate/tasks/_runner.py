"""Running one attempt of a task: timeout, retries with backoff, hooks, failed store."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stellate.tasks._serialization import encode, unserialisable_arguments
from stellate.tasks.exceptions import TaskArgumentError, TaskTimeout

if TYPE_CHECKING:
    from stellate.tasks.queue import TaskQueue
    from stellate.tasks.task import Task

logger = logging.getLogger("stellate.tasks.worker")

#: Runs a job gets beyond its attempts when its worker dies mid-job (at-least-once).
CRASH_RERUNS = 2

_PLAIN = (type(None), bool, int, float, str, bytes)


async def call_task(
    task: Task[..., Any],
    args: Any,
    kwargs: dict[str, Any],
    timeout: float,  # noqa: ASYNC109
) -> Any:
    """One attempt: the function under ``timeout`` (a sync one in a thread)."""
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            if task.is_async:
                return await task.func(*args, **kwargs)
            # A thread cannot be interrupted: on timeout the caller moves on and the
            # thread finishes in the background.
            return await asyncio.to_thread(task.func, *args, **kwargs)
    except TimeoutError:
        if scope.expired():
            raise TaskTimeout(
                f"Task `{task.name}` did not finish within {timeout:g}s: make it faster or "
                "raise its `timeout=`"
            ) from None
        raise


async def run_hook(hook: Callable[..., Any] | None, task: Task[..., Any], *args: Any) -> None:
    """Run a hook (sync or async); its errors are logged, never raised into the job."""
    if hook is None:
        return
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("Hook %r of task `%s` raised", hook, task.name)


def check_result(task: Task[..., Any], value: Any) -> None:
    """Fail now, with a clear message, when the result cannot be stored."""
    if isinstance(value, _PLAIN):
        return
    try:
        encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TaskArgumentError(
            f"Task `{task.name}` returned a `{type(value).__qualname__}`, which cannot be "
            f"serialised: {exc}; return plain data (str, int, list, dict, a msgspec Struct...)"
        ) from None


async def run_job(
    queue: TaskQueue,
    task: Task[..., Any],
    queue_name: str,
    ctx: dict[str, Any],
    args: Any,
    kwargs: dict[str, Any],
) -> Any:
    """Run one attempt of a job in the worker (the function arq calls).

    Success runs ``on_success``; a retryable error runs ``on_retry`` and asks arq to
    run the job again after the backoff delay; any other error (or the last attempt's)
    is recorded in the failed-jobs store, runs ``on_failure`` and fails the job.
    """
    from arq.worker import Retry

    job_id = queue.short_id(ctx["job_id"])
    attempt = int(ctx["job_try"])
    timeout = task.timeout or queue.settings.tasks_job_timeout
    started = time.perf_counter()
    max_attempts = task.retry.max_retries + 1
    try:
        if attempt > max_attempts + CRASH_RERUNS:
            # arq counts a run its worker died in as a try; past the allowance for such
            # runs the job is recorded as failed instead of running forever.
            raise RuntimeError(
                f"Workers running this job stopped {attempt - 1} times before it finished "
                "(killed or crashed); giving up"
            )
        args, kwargs = task.convert_arguments(args, kwargs)
        result = await call_task(task, args, kwargs, timeout)
        check_result(task, result)
    except Exception as exc:
        duration = (time.perf_counter() - started) * 1000
        retryable = not isinstance(exc, TaskArgumentError)
        if retryable and task.retry.should_retry(exc, attempt):
            delay = task.retry.delay(attempt)
            _log(job_id, task, attempt, duration, "retry", exc, delay)
            await run_hook(task.on_retry, task, exc, attempt)
            raise Retry(defer=delay) from exc
        _log(job_id, task, attempt, duration, "failed", exc)
        await record_failure(queue, task, job_id, queue_name, args, kwargs, attempt, exc)
        await run_hook(task.on_failure, task, exc)
        raise
    _log(job_id, task, attempt, (time.perf_counter() - started) * 1000, "success")
    await run_hook(task.on_success, task, result)
    return result


async def record_failure(
    queue: TaskQueue,
    task: Task[..., Any],
    job_id: str,
    queue_name: str,
    args: Any,
    kwargs: dict[str, Any],
    attempt: int,
    exc: BaseException,
) -> None:
    from stellate.tasks.failed import FailedJob

    error_type = type(exc)
    record = FailedJob(
        id=job_id,
        task=task.name,
        queue=queue_name,
        args=_plain_list(args),
        kwargs=_plain_dict(kwargs),
        attempts=attempt,
        error_type=error_type.__qualname__
        if error_type.__module__ == "builtins"
        else f"{error_type.__module__}.{error_type.__qualname__}",
        error=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        failed_at=time.time(),
    )
    try:
        await queue.failed.add(record)
    except Exception:
        logger.exception("Could not record failed job `%s` of task `%s`", job_id, task.name)


def _plain_list(values: Any) -> list[Any]:
    from stellate.tasks._serialization import decode

    try:
        return list(decode(encode(list(values))))
    except (TypeError, ValueError):
        return [repr(value) for value in values]


def _plain_dict(values: dict[str, Any]) -> dict[str, Any]:
    from stellate.tasks._serialization import decode

    try:
        return dict(decode(encode(values)))
    except (TypeError, ValueError):
        return {key: repr(value) for key, value in values.items()}


def _log(
    job_id: str,
    task: Task[..., Any],
    attempt: int,
    duration_ms: float,
    outcome: str,
    exc: BaseException | None = None,
    delay: float | None = None,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    extra = {
        "job_id": job_id,
        "task": task.name,
        "attempt": attempt,
        "duration_ms": round(duration_ms, 3),
        "outcome": outcome,
    }
    message = "job %s task=%s try=%d outcome=%s duration=%.1fms"
    params: list[Any] = [job_id, task.name, attempt, outcome, duration_ms]
    if exc is not None:
        message += " error=%s: %s"
        params += [type(exc).__name__, exc]
    if delay is not None:
        message += " retry_in=%.3fs"
        params.append(delay)
    logger.info(message, *params, extra=extra)


async def run_eager(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bool, Any]:
    """Eager mode: run every attempt inline now; ``(ok, result or exception)``.

    Arguments still go through the serialiser, so a test in eager mode catches an
    argument a real worker could not receive.
    """
    from stellate.tasks._serialization import decode

    try:
        encode([list(args), kwargs])
    except (TypeError, ValueError, OverflowError):
        raise unserialisable_arguments(task, args, kwargs) from None
    wire_args, wire_kwargs = decode(encode([list(args), kwargs]))
    attempt = 0
    while True:
        attempt += 1
        try:
            call_args, call_kwargs = task.convert_arguments(wire_args, wire_kwargs)
            result = await call_task(task, call_args, call_kwargs, task.timeout or 300.0)
            check_result(task, result)
        except Exception as exc:
            if not isinstance(exc, TaskArgumentError) and task.retry.should_retry(exc, attempt):
                await run_hook(task.on_retry, task, exc, attempt)
                await asyncio.sleep(task.retry.delay(attempt))
                continue
            await run_hook(task.on_failure, task, exc)
            return False, exc
        await run_hook(task.on_success, task, result)
        return True, result
