"""The failed-jobs store: jobs that failed after their last attempt, kept in Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from stellate.tasks.handle import TaskHandle
    from stellate.tasks.queue import TaskQueue

__all__ = ["FailedJob", "FailedJobStore"]


class FailedJob(msgspec.Struct, frozen=True, kw_only=True):
    """One job that failed after its last attempt.

    Attributes:
        id: the job id.
        task: the task's name.
        queue: the queue it ran from.
        args: positional arguments (as serialised).
        kwargs: keyword arguments (as serialised).
        attempts: how many times it ran.
        error_type: qualified name of the last exception.
        error: the last exception's message.
        traceback: the last exception's formatted traceback.
        failed_at: Unix time of the last failure.
    """

    id: str
    task: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    error_type: str
    error: str
    traceback: str
    failed_at: float


_encoder = msgspec.msgpack.Encoder()

#: Add a record and drop the oldest beyond the limit, atomically: workers failing
#: jobs at the same time must not trim more than the excess between them.
_ADD = """
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
local extra = redis.call('zcard', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local oldest = redis.call('zrange', KEYS[2], 0, extra - 1)
  redis.call('zrem', KEYS[2], unpack(oldest))
  redis.call('hdel', KEYS[1], unpack(oldest))
end
return 1
"""
_decoder = msgspec.msgpack.Decoder(FailedJob)


class FailedJobStore:
    """Failed-job records of one app's queue (``app.tasks.failed``).

    Records live in a Redis hash (by job id) with a sorted set by time, both under
    the app's key prefix; beyond ``tasks_failed_limit`` records the oldest are dropped.
    """

    def __init__(self, queue: TaskQueue) -> None:
        self._queue = queue
        self._hash = f"{queue.prefix}failed"
        self._index = f"{queue.prefix}failed:index"

    async def add(self, record: FailedJob) -> None:
        """Store ``record`` (replacing an older record of the same job id)."""
        async with self._queue.redis_call("record a failed job") as redis:
            await redis.eval(
                _ADD,
                2,
                self._hash,
                self._index,
                record.id,
                _encoder.encode(record),
                repr(record.failed_at),
                str(self._queue.settings.tasks_failed_limit),
            )

    async def list(self, limit: int = 100) -> list[FailedJob]:
        """The most recent failed jobs, newest first."""
        async with self._queue.redis_call("list failed jobs") as redis:
            ids = await redis.zrevrange(self._index, 0, limit - 1)
            if not ids:
                return []
            raws = await redis.hmget(self._hash, ids)
        return [_decoder.decode(raw) for raw in raws if raw is not None]

    async def get(self, job_id: str) -> FailedJob | None:
        """The record of job ``job_id``, or ``None``."""
        async with self._queue.redis_call("read a failed job") as redis:
            raw = await redis.hget(self._hash, job_id)
        return None if raw is None else _decoder.decode(raw)

    async def count(self) -> int:
        """How many failed jobs are recorded."""
        async with self._queue.redis_call("count failed jobs") as redis:
            return int(await redis.zcard(self._index))

    async def remove(self, job_id: str) -> bool:
        """Drop the record of ``job_id``; ``False`` when there was none."""
        async with self._queue.redis_call("remove a failed job") as redis:
            pipe = redis.pipeline(transaction=True)
            pipe.zrem(self._index, job_id)
            pipe.hdel(self._hash, job_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def retry(self, job_id: str) -> TaskHandle[Any]:
        """Queue the failed job again (as a new job) and drop its record.

        Raises:
            KeyError: no failed job has id ``job_id`` (the message lists how to find one).
        """
        record = await self.get(job_id)
        if record is None:
            raise KeyError(
                f"No failed job with id `{job_id}`: list them with `stellate tasks failed`"
            )
        handle = await self._queue.enqueue_raw(
            record.task, record.args, record.kwargs, queue=record.queue
        )
        await self.remove(job_id)
        return handle

    async def clear(self) -> None:
        """Drop every record."""
        async with self._queue.redis_call("clear failed jobs") as redis:
            await redis.delete(self._hash, self._index)
