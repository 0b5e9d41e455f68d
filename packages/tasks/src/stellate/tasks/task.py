"""Tasks: functions that run in a worker, and the ``task`` decorator."""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

import msgspec

from stellate.tasks.exceptions import TaskArgumentError
from stellate.tasks.retry import Backoff, RetryPolicy

if TYPE_CHECKING:
    from stellate.tasks.handle import TaskHandle
    from stellate.tasks.queue import TaskQueue

__all__ = ["Task", "TaskDecorator", "task"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

SuccessHook = Callable[[Any], Awaitable[None] | None]
RetryHook = Callable[[BaseException, int], Awaitable[None] | None]
FailureHook = Callable[[BaseException], Awaitable[None] | None]


class Task(Generic[P, R]):
    """A function that runs in a worker; made by ``@app.task`` or ``@task``.

    Calling the task (``await fetch(url)``) runs the function here and now;
    :meth:`enqueue` queues it for a worker.

    Attributes:
        name: the name workers know the task by (``module.qualname`` by default).
        func: the decorated function.
        queue_name: the queue its jobs go to.
        timeout: seconds one attempt may run (``None``: the worker's default).
        retry: its :class:`RetryPolicy`.
    """

    def __init__(
        self,
        func: Callable[P, Awaitable[R]] | Callable[P, R],
        *,
        name: str | None = None,
        queue: str = "default",
        timeout: float | None = None,
        max_retries: int = 0,
        retry_delay: float = 1.0,
        backoff: Backoff = "fixed",
        jitter: bool = False,
        max_delay: float = 300.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        on_success: SuccessHook | None = None,
        on_retry: RetryHook | None = None,
        on_failure: FailureHook | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"@task decorates a function, got `{func!r}`")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout=`{timeout!r}` of task `{func!r}` must be > 0 seconds")
        self.func = func
        self.name = name or f"{func.__module__}.{func.__qualname__}"
        self.queue_name = queue
        self.timeout = timeout
        self.retry = RetryPolicy(
            max_retries=max_retries,
            retry_delay=retry_delay,
            backoff=backoff,
            jitter=jitter,
            max_delay=max_delay,
            retry_on=tuple(retry_on),
        )
        self.on_success = on_success
        self.on_retry = on_retry
        self.on_failure = on_failure
        self.is_async = inspect.iscoroutinefunction(func)
        self.signature = inspect.signature(func)
        self._queue: TaskQueue | None = None
        self._hints: dict[str, Any] | None = None
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<Task {self.name!r} queue={self.queue_name!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Call the function directly (no queue, no retries)."""
        return self.func(*args, **kwargs)

    async def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here (a sync one in a thread) and return its result."""
        if self.is_async:
            return await typing.cast("Coroutine[Any, Any, R]", self.func(*args, **kwargs))
        return await asyncio.to_thread(typing.cast("Callable[..., R]", self.func), *args, **kwargs)

    async def enqueue(
        self,
        *args: Any,
        _job_id: str | None = None,
        _defer_by: float | timedelta | None = None,
        _defer_until: datetime | None = None,
        _queue: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle[R]:
        """Queue a job running this task with ``args``/``kwargs``.

        Args:
            *args: positional arguments of the function.
            _job_id: the job's id; while a job with this id is queued, running or has a
                kept result, enqueueing it again is a no-op returning a handle with
                ``duplicate=True``.
            _defer_by: run no earlier than this many seconds (or ``timedelta``) from now.
            _defer_until: run no earlier than this (timezone-aware) datetime.
            _queue: another queue than the task's own.
            **kwargs: keyword arguments of the function.

        Returns:
            A :class:`TaskHandle` to follow the job.

        Raises:
            TaskArgumentError: the arguments do not fit the function, or one cannot be
                serialised (the error names it).
            TaskQueueUnavailable: Redis cannot be reached.
        """
        return await self.bound_queue().enqueue_task(
            self,
            args,
            kwargs,
            job_id=_job_id,
            defer_by=_defer_by,
            defer_until=_defer_until,
            queue=_queue,
        )

    def bound_queue(self) -> TaskQueue:
        """The app's task queue this task enqueues through."""
        if self._queue is None:
            raise RuntimeError(
                f"Task `{self.name}` is not registered with an app: add its module to "
                "STELLATE_TASKS_MODULES (settings `tasks_modules`) or call "
                "`app.tasks.register(task)`"
            )
        return self._queue

    def bind_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Match ``args``/``kwargs`` to the function's parameters (name -> value)."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentError(
                f"Task `{self.name}` cannot take these arguments: {exc}; "
                f"its signature is `{self.name}{self.signature}`"
            ) from None
        return dict(bound.arguments)

    def convert_arguments(
        self, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Turn decoded msgpack values back into the annotated parameter types.

        msgpack carries plain data; a parameter annotated ``datetime``, ``UUID``, a
        msgspec Struct or a dataclass gets that type back here.
        """
        hints = self._type_hints()
        if not hints:
            return list(args), kwargs
        params = list(self.signature.parameters.values())
        new_args = list(args)
        for index, value in enumerate(new_args):
            if index < len(params) and params[index].kind in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                hint = hints.get(params[index].name)
                if hint is not None:
                    new_args[index] = self._convert(params[index].name, value, hint)
        new_kwargs = {
            key: self._convert(key, value, hints[key]) if key in hints else value
            for key, value in kwargs.items()
        }
        return new_args, new_kwargs

    def convert_result(self, value: Any) -> Any:
        """Turn a decoded result back into the function's annotated return type."""
        hint = self._type_hints().get("return")
        if hint is None:
            return value
        try:
            return msgspec.convert(value, hint, strict=False)
        except msgspec.ValidationError:
            return value

    def _convert(self, name: str, value: Any, hint: Any) -> Any:
        try:
            return msgspec.convert(value, hint, strict=False)
        except msgspec.ValidationError as exc:
            raise TaskArgumentError(
                f"Argument `{name}` of task `{self.name}` does not match its annotation "
                f"`{hint}`: {exc}"
            ) from None

    def _type_hints(self) -> dict[str, Any]:
        if self._hints is None:
            try:
                raw = typing.get_type_hints(self.func)
            except Exception:
                # Unresolvable annotations (forward references to local names): values
                # are passed as decoded, which is what msgpack gives anyway.
                raw = {}
            self._hints = {
                key: hint
                for key, hint in raw.items()
                if hint is not Any and hint is not type(None) and _convertible(hint)
            }
        return self._hints


def _convertible(hint: Any) -> bool:
    try:
        msgspec.inspect.type_info(hint)
    except (TypeError, ValueError):
        return False
    return True


class TaskDecorator(Protocol):
    """What ``@task(...)`` and ``@app.task(...)`` return: a decorator making a Task."""

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(func: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...


@overload
def task(func: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    queue: str = "default",
    timeout: float | None = None,
    max_retries: int = 0,
    retry_delay: float = 1.0,
    backoff: Backoff = "fixed",
    jitter: bool = False,
    max_delay: float = 300.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    on_success: SuccessHook | None = None,
    on_retry: RetryHook | None = None,
    on_failure: FailureHook | None = None,
) -> TaskDecorator: ...


def task(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare a task in a module that does not hold the app.

    The task is registered with an app by listing its module in
    ``STELLATE_TASKS_MODULES`` or by ``app.tasks.register(task)``; it then enqueues
    through that app. Options are those of :class:`Task`.

    Example:
        ```python
        from stellate.tasks import task

        @task(max_retries=3, retry_on=(ConnectionError,))
        async def fetch_data(url: str) -> bytes: ...
        ```
    """
    if func is not None:
        return Task(func, **options)

    def decorator(function: Callable[..., Any]) -> Task[..., Any]:
        return Task(function, **options)

    return decorator
