"""TaskGroup: run a batch of tasks in parallel and collect their results in order."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from stellate.tasks._serialization import encode, unserialisable_arguments
from stellate.tasks.exceptions import ResultTimeout, TaskGroupError

if TYPE_CHECKING:
    from stellate.tasks.handle import TaskHandle
    from stellate.tasks.task import Task

__all__ = ["TaskGroup"]


class TaskGroup:
    """Tasks queued together whose results are awaited together.

    Example:
        ```python
        group = TaskGroup()
        for item in items:
            group.add(process_task, item)
        results = await group.run(timeout=30.0)  # in the order added
        ```

    A failed or unfinished item never hides the others: :meth:`run` raises
    :class:`TaskGroupError` listing every failed item, with ``results`` holding each
    value (or its exception); ``run(return_exceptions=True)`` returns that list instead.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Task[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.handles: list[TaskHandle[Any]] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, task: Task[..., Any], *args: Any, **kwargs: Any) -> None:
        """Add a job of ``task`` with these arguments (checked now, queued by :meth:`run`).

        Raises:
            TaskArgumentError: the arguments do not fit the function or cannot be
                serialised, so no job of the group is queued with a bad one.
        """
        task.bind_arguments(args, kwargs)
        try:
            encode([list(args), kwargs])
        except (TypeError, ValueError, OverflowError):
            raise unserialisable_arguments(task, args, kwargs) from None
        self._items.append((task, args, kwargs))

    async def run(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (the documented spelling)
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Queue every job, wait for all, and return their results in the order added.

        Args:
            timeout: seconds to wait for the whole group; items unfinished by then fail
                with ``ResultTimeout`` (their jobs keep running).
            return_exceptions: return exceptions in place of results instead of raising.

        Raises:
            TaskGroupError: when any item failed, after every item was waited for.
            TaskQueueUnavailable: Redis cannot be reached while queueing.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.handles = list(
            await asyncio.gather(
                *(task.enqueue(*args, **kwargs) for task, args, kwargs in self._items)
            )
        )

        async def wait(handle: TaskHandle[Any]) -> Any:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return await handle.result(timeout=remaining)

        outcomes = await asyncio.gather(
            *(wait(handle) for handle in self.handles), return_exceptions=True
        )
        results: list[Any] = []
        errors: list[tuple[int, BaseException]] = []
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                if isinstance(outcome, ResultTimeout) and timeout is not None:
                    handle = self.handles[index]
                    outcome = ResultTimeout(
                        f"Task `{handle.task_name}` (job `{handle.id}`) did not finish within "
                        f"the group's {timeout:g}s"
                    )
                errors.append((index, outcome))
            results.append(outcome)
        if errors and not return_exceptions:
            raise TaskGroupError(results, errors)
        return results

    def run_sync(
        self, timeout: float | None = None, *, return_exceptions: bool = False
    ) -> list[Any]:
        """Blocking :meth:`run` for synchronous code (a sync task, a script).

        The reference spells it ``results = group.run(timeout=30.0)``; in Stellate
        ``run`` is a coroutine, and this is the spelling for code without an event loop.
        In a thread next to the app's event loop (a sync task), the group runs on that
        loop; in a plain script it runs on a new one.

        Raises:
            RuntimeError: when called on a thread that runs an event loop: blocking it
                would stall every other request; use ``await group.run()`` there.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "TaskGroup.run_sync() was called inside a running event loop, where it "
                "would block every other coroutine: use `await group.run(...)` instead"
            )
        loop = self._queue_loop()
        coro = self.run(timeout, return_exceptions=return_exceptions)
        if loop is not None and loop.is_running():
            # That loop runs on another thread (this one has none): hand the work to it,
            # since the queue's Redis connections belong to it.
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
        return asyncio.run(coro)

    def _queue_loop(self) -> asyncio.AbstractEventLoop | None:
        for task, _, _ in self._items:
            queue = task._queue
            if queue is not None:
                loop = queue.client_loop()
                if loop is not None:
                    return loop
        return None
