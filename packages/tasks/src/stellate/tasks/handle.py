"""TaskHandle: follow one queued job."""

from __future__ import annotations

import asyncio
import enum
import time
import typing
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from stellate.tasks import _keys
from stellate.tasks._serialization import decode, error_from_result, is_aborted
from stellate.tasks.exceptions import ResultTimeout

if TYPE_CHECKING:
    from stellate.tasks.queue import TaskQueue
    from stellate.tasks.task import Task

__all__ = ["TaskHandle", "TaskStatus"]

R = TypeVar("R")


class TaskStatus(enum.StrEnum):
    """Where a job is."""

    #: waiting in the queue, due now
    QUEUED = "queued"
    #: waiting in the queue until a later time (``_defer_by``, or a retry's backoff)
    DEFERRED = "deferred"
    #: a worker is running it
    IN_PROGRESS = "in_progress"
    #: finished and returned a result
    COMPLETE = "complete"
    #: finished with an error after its last attempt
    FAILED = "failed"
    #: aborted before it finished
    ABORTED = "aborted"
    #: unknown id, or its result has expired
    NOT_FOUND = "not_found"


class TaskHandle(Generic[R]):
    """A reference to one job: its id, and ways to ask about it.

    A handle holds only ids; nothing is allocated for waiting until :meth:`result`
    is awaited, so fire-and-forget enqueues stay cheap.

    Attributes:
        id: the job id (the ``_job_id`` given at enqueue, or a generated one).
        task_name: name of the task it runs.
        queue_name: the queue it was put in.
        duplicate: ``True`` when enqueue found a job with the same id and queued
            nothing; the handle then follows that existing job.
    """

    __slots__ = ("_eager", "_queue", "_task", "duplicate", "id", "queue_name", "task_name")

    def __init__(
        self,
        queue: TaskQueue,
        job_id: str,
        *,
        task_name: str,
        queue_name: str,
        duplicate: bool = False,
        task: Task[..., R] | None = None,
        eager: tuple[bool, Any] | None = None,
    ) -> None:
        self._queue = queue
        self.id = job_id
        self.task_name = task_name
        self.queue_name = queue_name
        self.duplicate = duplicate
        self._task = task
        self._eager = eager

    def __repr__(self) -> str:
        dup = " duplicate" if self.duplicate else ""
        return f"<TaskHandle {self.task_name} id={self.id!r}{dup}>"

    async def status(self) -> TaskStatus:
        """The job's current :class:`TaskStatus`."""
        if self._eager is not None:
            return TaskStatus.COMPLETE if self._eager[0] else TaskStatus.FAILED
        full_id = self._queue.full_id(self.id)
        async with self._queue.redis_call("read a job status") as redis:
            pipe = redis.pipeline(transaction=False)
            pipe.get(_keys.result(full_id))
            pipe.exists(_keys.in_progress(full_id))
            pipe.zscore(self._queue.queue_key(self.queue_name), full_id)
            raw, in_progress, score = await pipe.execute()
        if raw is not None:
            data = decode(raw)
            if data.get("s"):
                return TaskStatus.COMPLETE
            return TaskStatus.ABORTED if is_aborted(data.get("r")) else TaskStatus.FAILED
        if in_progress:
            return TaskStatus.IN_PROGRESS
        if score is None:
            return TaskStatus.NOT_FOUND
        # arq rounds the enqueue time to the millisecond: allow that much.
        due_later = score > time.time() * 1000 + 1
        return TaskStatus.DEFERRED if due_later else TaskStatus.QUEUED

    async def result(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (the documented spelling)
        *,
        poll_interval: float = 0.05,
    ) -> R:
        """Wait for the job to finish and return its result.

        Args:
            timeout: seconds to wait (``None``: until it finishes).
            poll_interval: longest pause between two looks at Redis; the first looks
                are quicker so short jobs return fast.

        Returns:
            The task's return value (converted back to its annotated return type).

        Raises:
            ResultTimeout: the job did not finish within ``timeout``.
            TaskFailed: the job failed after its last attempt (with the remote
                error's type, message and traceback).
            TaskAborted: the job was aborted.
        """
        if self._eager is not None:
            ok, value = self._eager
            if ok:
                return value  # type: ignore[no-any-return]
            raise value
        deadline = None if timeout is None else time.monotonic() + timeout
        key = _keys.result(self._queue.full_id(self.id))
        pause = 0.002
        while True:
            async with self._queue.redis_call("read a job result") as redis:
                raw = await redis.get(key)
            if raw is not None:
                return self._unpack(decode(raw))
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    f"Task `{self.task_name}` (job `{self.id}`) did not finish within "
                    f"{timeout:g}s (status: `{(await self.status()).value}`); wait longer "
                    "or check that a worker serves queue "
                    f"`{self.queue_name}` (`stellate worker`)"
                )
            pause = min(pause * 2, poll_interval)
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            await asyncio.sleep(pause)

    def _unpack(self, data: dict[str, Any]) -> R:
        if data.get("s"):
            value: Any = data.get("r")
            if self._task is not None:
                value = self._task.convert_result(value)
            return typing.cast("R", value)
        raise error_from_result(data.get("r"), self.task_name, self.id)

    async def abort(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Stop the job: remove it from the queue, or cancel it in its worker.

        Args:
            timeout: seconds to wait for a running job's worker to confirm.

        Returns:
            ``True`` when the job was aborted, ``False`` when it had already finished
            or the worker did not confirm in time.
        """
        if self._eager is not None:
            return False
        return await self._queue.abort_job(self.id, self.queue_name, self.task_name, timeout)
