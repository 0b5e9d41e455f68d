"""TaskQueue: one app's tasks, its Redis connection and the operations on jobs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib
import inspect
import time
import typing
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import msgspec

from stellate.tasks import _keys
from stellate.tasks._runner import run_eager
from stellate.tasks._serialization import (
    ERROR_MARKER,
    decode,
    encode,
    is_aborted,
    unserialisable_arguments,
)
from stellate.tasks.cron import CronSchedule, parse_cron
from stellate.tasks.exceptions import TaskQueueUnavailable
from stellate.tasks.failed import FailedJobStore
from stellate.tasks.handle import TaskHandle
from stellate.tasks.retry import Backoff
from stellate.tasks.settings import TasksSettings
from stellate.tasks.task import FailureHook, RetryHook, SuccessHook, Task, TaskDecorator

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from stellate.tasks.worker import Worker

__all__ = ["QueueCounts", "TaskQueue", "TaskStats"]

P = ParamSpec("P")
R = TypeVar("R")

#: Removes a job no worker has started, atomically: 1 = aborted, 0 = running, -1 = not
#: queued (finished or unknown). Touching the in-progress key makes a worker that is
#: about to start the job (it WATCHes that key) skip it.
_ABORT_QUEUED = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
if redis.call('zrem', KEYS[2], ARGV[1]) == 0 then return -1 end
redis.call('set', KEYS[1], '1', 'PX', 1)
redis.call('del', KEYS[3], KEYS[4])
redis.call('set', KEYS[5], ARGV[2], 'PX', ARGV[3])
return 1
"""

#: Queue a job in one round trip: arq's own enqueue takes three (WATCH, EXISTS,
#: MULTI/EXEC) for the same effect. Writes exactly arq's keys, so arq's worker runs it;
#: 0 means a job with this id is queued, running or has a kept result (deduplicated).
_ENQUEUE = """
if redis.call('exists', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('psetex', KEYS[1], ARGV[1], ARGV[2])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
#: arq's default lifetime of a queued job beyond its due time (one day).
_EXPIRES_EXTRA_MS = 86_400_000


def _redis_errors() -> Any:
    from redis import exceptions

    return exceptions


@functools.cache
def _unavailable() -> tuple[type[BaseException], ...]:
    """Errors that mean "Redis is not there (or not answering)", as opposed to bad input.

    redis-py is imported here, on first use, rather than at module import: importing it
    costs ~30 ms, and an app that never enqueues at startup should not pay that to start.
    """
    from redis import exceptions as redis_errors

    return (
        redis_errors.ConnectionError,
        redis_errors.TimeoutError,
        redis_errors.BusyLoadingError,
        OSError,
        TimeoutError,
    )


class QueueCounts(msgspec.Struct, frozen=True):
    """Jobs waiting in one queue: due now (``queued``) and later (``deferred``)."""

    queued: int
    deferred: int


class TaskStats(msgspec.Struct, frozen=True):
    """What ``stellate tasks`` shows: counts per queue, running and failed jobs."""

    queues: dict[str, QueueCounts]
    in_progress: int
    failed: int


class TaskQueue:
    """The tasks of one app and the Redis queue they run through (``app.tasks``).

    ``app.task`` is :meth:`task` and ``app.cron`` is :meth:`cron` of this object.

    Args:
        settings: the plugin's settings (defaults read nothing from the environment).
        production: refuse to start an embedded Redis.
    """

    def __init__(self, settings: TasksSettings | None = None, *, production: bool = False) -> None:
        self.settings = settings or TasksSettings()
        self.prefix = self.settings.tasks_prefix
        self.production = production
        self.tasks: dict[str, Task[..., Any]] = {}
        self.crons: list[tuple[Task[..., Any], CronSchedule]] = []
        self.failed = FailedJobStore(self)
        self._url = self.settings.redis_url
        # A Redis client belongs to the event loop it was made on: one per loop (the
        # app's, plus any a CLI command or a sync caller runs).
        self._clients: dict[asyncio.AbstractEventLoop, ArqRedis] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._embedded: Any = None
        self._enqueue_sha = hashlib.sha1(_ENQUEUE.encode()).hexdigest()  # noqa: S324 (Redis' script id)

    # -- registration -------------------------------------------------------------

    @overload
    def task(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> Task[P, R]: ...

    @overload
    def task(self, func: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        /,
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

    def task(self, func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Declare a task of this app: ``@app.task`` or ``@app.task(max_retries=3, ...)``.

        Options are those of :class:`~stellate.tasks.Task`: ``name``, ``queue``,
        ``timeout``, ``max_retries``, ``retry_delay``, ``backoff``, ``jitter``,
        ``max_delay``, ``retry_on``, ``on_success``, ``on_retry``, ``on_failure``.

        Example:
            ```python
            @app.task(max_retries=3, retry_delay=1.0, retry_on=(ConnectionError,))
            async def fetch_data(url: str) -> bytes: ...

            handle = await fetch_data.enqueue("https://example.com")
            ```
        """
        if func is not None:
            return self.register(Task(func, **options))
        decorator: TaskDecorator = lambda function: self.register(Task(function, **options))  # noqa: E731
        return decorator

    def cron(
        self,
        schedule: str | None = None,
        *,
        month: int | set[int] | None = None,
        day: int | set[int] | None = None,
        weekday: int | set[int] | None = None,
        hour: int | set[int] | None = None,
        minute: int | set[int] | None = None,
        second: int | set[int] | None = None,
        run_at_startup: bool = False,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Task[..., Any]]:
        """Run a function (taking no arguments) periodically, once per schedule across workers.

        Args:
            schedule: a five-field crontab (``"*/5 * * * *"``: minute, hour, day of
                month, month, day of week with 0 = Sunday). Leave it out to give fields.
            month: like arq's cron fields: a number or set of numbers (1-12).
            day: day(s) of the month (1-31).
            weekday: day(s) of the week, 0 = Monday ... 6 = Sunday (arq's convention).
            hour: hour(s), 0-23.
            minute: minute(s), 0-59.
            second: second(s), 0-59 (default 0).
            run_at_startup: also run when a worker starts.
            **options: task options (``timeout``, ``max_retries``, hooks, ``queue``...).

        Every worker serving the task's queue schedules the run; the job id carries the
        scheduled time, so only one job per time is queued whatever the number of workers.
        """
        if schedule is not None:
            fields = (month, day, weekday, hour, minute, second)
            if any(value is not None for value in fields):
                raise ValueError(
                    f"app.cron({schedule!r}) got both a crontab and fields: give one or the other"
                )
            parsed = parse_cron(schedule)
        else:
            parsed = CronSchedule(
                month=_as_set(month),
                day=_as_set(day),
                weekday=_as_set(weekday),
                hour=_as_set(hour),
                minute=_as_set(minute),
                second=_as_set(second) if second is not None else frozenset({0}),
            )
        parsed = msgspec.structs.replace(parsed, run_at_startup=run_at_startup)

        def decorator(func: Callable[..., Any]) -> Task[..., Any]:
            task: Task[..., Any] = Task(func, **options)
            required = [
                p
                for p in task.signature.parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            ]
            if required:
                raise TypeError(
                    f"Cron task `{task.name}` takes required arguments "
                    f"({', '.join(p.name for p in required)}): a cron job is called "
                    "without arguments; give them defaults"
                )
            self.register(task)
            self.crons.append((task, parsed))
            return task

        return decorator

    def register(self, *tasks: Task[..., Any]) -> Any:
        """Make module-level tasks run through this app; returns the (last) task."""
        for task in tasks:
            if not isinstance(task, Task):
                raise TypeError(f"app.tasks.register() takes tasks made by @task, got `{task!r}`")
            existing = self.tasks.get(task.name)
            if existing is not None and existing is not task:
                raise ValueError(
                    f"Two tasks are named `{task.name}` ({existing.func!r} and {task.func!r}): "
                    "give one a different `name=`"
                )
            self.tasks[task.name] = task
            # A module-level task enqueues through the app that registered it last.
            task._queue = self
        return tasks[-1] if tasks else None

    def include(self, module: str) -> None:
        """Import ``module`` and register every task defined in it."""
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(
                f"Tasks module `{module}` (from STELLATE_TASKS_MODULES) cannot be imported: "
                f"{exc}; fix the module path"
            ) from exc
        found = [value for value in vars(imported).values() if isinstance(value, Task)]
        self.register(*found)

    # -- keys -----------------------------------------------------------------------

    def queue_key(self, name: str) -> str:
        """The Redis key of queue ``name``."""
        return f"{self.prefix}queue:{name}"

    def full_id(self, job_id: str) -> str:
        """The id arq stores for job ``job_id`` (prefixed, so apps sharing Redis never clash)."""
        return self.prefix + job_id

    def short_id(self, full_id: str) -> str:
        """Inverse of :meth:`full_id`."""
        return full_id[len(self.prefix) :] if full_id.startswith(self.prefix) else full_id

    def queue_names(self) -> list[str]:
        """Every queue a registered task uses, ``default`` first."""
        names = {"default", *(task.queue_name for task in self.tasks.values())}
        return sorted(names, key=lambda name: (name != "default", name))

    # -- connection -----------------------------------------------------------------

    @property
    def redis_url(self) -> str | None:
        """The Redis URL in use (the embedded server's once started), ``None`` before."""
        return self._url

    async def connection(self) -> ArqRedis:
        """The Redis client of this queue, connecting (or starting embedded Redis) lazily."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is not None:
            return client
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = self.new_client(await self.resolve_url())
        return client

    def client_loop(self) -> asyncio.AbstractEventLoop | None:
        """A running event loop (other than this thread's) that holds a client, if any."""
        for loop in self._clients:
            if loop.is_running() and not loop.is_closed():
                return loop
        return None

    async def resolve_url(self) -> str:
        """The Redis URL, starting the embedded Redis when none is configured."""
        if self._url is None:
            if self.production:
                raise TaskQueueUnavailable(
                    "STELLATE_REDIS_URL (or REDIS_URL) is not set: production needs a Redis "
                    "server; set it to e.g. redis://redis.internal:6379/0"
                )
            from stellate.tasks.embedded import start_embedded_redis

            self._embedded, self._url = await asyncio.to_thread(
                start_embedded_redis, self.settings.tasks_embedded_dir
            )
        return typing.cast(str, self._url)

    def new_client(self, url: str) -> ArqRedis:
        """A new arq Redis client for ``url`` with this queue's timeouts and serialiser."""
        from arq.connections import ArqRedis
        from redis.asyncio import ConnectionPool

        # Only connecting has a socket timeout: redis-py's per-read timeout made an
        # enqueue about a third slower, so calls are bounded by asyncio.timeout instead
        # (``redis_call`` and ``enqueue_task``).
        timeout = self.settings.tasks_enqueue_timeout
        pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout)
        return ArqRedis(
            pool,
            job_serializer=encode,
            job_deserializer=decode,
            default_queue_name=self.queue_key("default"),
        )

    def unavailable(self, action: str, exc: BaseException) -> TaskQueueUnavailable:
        """The error raised when Redis fails while doing ``action``."""
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError) and not isinstance(exc, _redis_errors().RedisError):
            detail = f"no answer within {self.settings.tasks_enqueue_timeout:g}s"
        return TaskQueueUnavailable(
            f"Cannot {action}: Redis at `{_safe_url(self._url)}` is unavailable ({detail}); "
            "start it or point STELLATE_REDIS_URL (or REDIS_URL) at a reachable server"
        )

    @contextlib.asynccontextmanager
    async def redis_call(self, action: str) -> AsyncIterator[Any]:
        """Run Redis calls with the queue's timeout; failures become ``TaskQueueUnavailable``."""
        try:
            async with asyncio.timeout(self.settings.tasks_enqueue_timeout):
                yield await self.connection()
        except _unavailable() as exc:
            raise self.unavailable(action, exc) from None

    async def ping(self) -> None:
        """Raise ``TaskQueueUnavailable`` unless Redis answers (the app's health check)."""
        async with self.redis_call("ping Redis") as redis:
            await redis.ping()

    async def close(self) -> None:
        """Close the Redis clients (and stop the embedded Redis this queue started)."""
        current = asyncio.get_running_loop()
        clients, self._clients, self._locks = self._clients, {}, {}
        for loop, client in clients.items():
            if loop is current:
                await client.aclose(close_connection_pool=True)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(close_connection_pool=True), loop)
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            from stellate.tasks.embedded import stop_embedded_redis

            await asyncio.to_thread(stop_embedded_redis, embedded)
            self._url = self.settings.redis_url

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """The app's lifespan step: close connections at shutdown."""
        try:
            yield
        finally:
            await self.close()

    # -- enqueue --------------------------------------------------------------------

    async def enqueue_task(
        self,
        task: Task[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        job_id: str | None = None,
        defer_by: float | timedelta | None = None,
        defer_until: datetime | None = None,
        queue: str | None = None,
    ) -> TaskHandle[Any]:
        """Queue ``task`` with its arguments; see :meth:`Task.enqueue`."""
        queue_name = queue or task.queue_name
        task.bind_arguments(args, kwargs)
        if defer_by is not None and defer_until is not None:
            raise ValueError("give `_defer_by` or `_defer_until`, not both")
        short_id = job_id if job_id is not None else uuid.uuid4().hex
        if self.settings.tasks_eager:
            ok, value = await run_eager(task, args, kwargs)
            return TaskHandle(
                self,
                short_id,
                task_name=task.name,
                queue_name=queue_name,
                task=task,
                eager=(ok, value),
            )
        now_ms = round(time.time() * 1000)
        if defer_until is not None:
            score = round(defer_until.timestamp() * 1000)
        elif defer_by is not None:
            seconds = defer_by.total_seconds() if isinstance(defer_by, timedelta) else defer_by
            score = now_ms + round(seconds * 1000)
        else:
            score = now_ms
        # The job record arq's worker reads (its serialize_job layout, in msgpack).
        try:
            payload = encode({"t": None, "f": task.name, "a": args, "k": kwargs, "et": now_ms})
        except (TypeError, ValueError, OverflowError):
            raise unserialisable_arguments(task, args, kwargs) from None
        full_id = self.prefix + short_id
        try:
            async with asyncio.timeout(self.settings.tasks_enqueue_timeout):
                # redis-py types script arguments as str; bytes and ints are sent as is.
                redis: Any = await self.connection()
                created = await redis.evalsha(
                    self._enqueue_sha,
                    3,
                    _keys.job(full_id),
                    _keys.result(full_id),
                    self.queue_key(queue_name),
                    max(score - now_ms, 0) + _EXPIRES_EXTRA_MS,
                    payload,
                    score,
                    full_id,
                )
        except _redis_errors().NoScriptError:
            # A restarted (or flushed) Redis forgot the script: load it and go again.
            async with self.redis_call(f"enqueue task `{task.name}`") as redis:
                await redis.script_load(_ENQUEUE)
            return await self.enqueue_task(
                task,
                args,
                kwargs,
                job_id=job_id,
                defer_by=defer_by,
                defer_until=defer_until,
                queue=queue,
            )
        except _unavailable() as exc:
            raise self.unavailable(f"enqueue task `{task.name}`", exc) from None
        return TaskHandle(
            self,
            short_id,
            task_name=task.name,
            queue_name=queue_name,
            duplicate=not created,
            task=task,
        )

    async def enqueue(self, name: str, *args: Any, **kwargs: Any) -> TaskHandle[Any]:
        """Queue the registered task called ``name`` (``_job_id`` etc. as in ``Task.enqueue``)."""
        return await self._task_named(name).enqueue(*args, **kwargs)

    async def enqueue_raw(
        self,
        name: str,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        queue: str,
        job_id: str | None = None,
        defer_until: datetime | None = None,
    ) -> TaskHandle[Any]:
        """Queue already-serialised arguments for task ``name`` (failed-job retries, outbox)."""
        task = self.tasks.get(name)
        if task is not None:
            return await self.enqueue_task(
                task, tuple(args), kwargs, job_id=job_id, queue=queue, defer_until=defer_until
            )
        short_id = job_id or uuid.uuid4().hex
        async with self.redis_call(f"enqueue task `{name}`") as redis:
            job = await redis.enqueue_job(
                name,
                *args,
                _job_id=self.prefix + short_id,
                _queue_name=self.queue_key(queue),
                _defer_until=defer_until,
                **kwargs,
            )
        return TaskHandle(self, short_id, task_name=name, queue_name=queue, duplicate=job is None)

    def handle(
        self, job_id: str, task: str | Task[..., Any], queue: str | None = None
    ) -> TaskHandle[Any]:
        """A handle for an existing job (e.g. from an id kept in a database row)."""
        found = task if isinstance(task, Task) else self.tasks.get(task)
        name = found.name if found is not None else str(task)
        queue_name = queue or (found.queue_name if found is not None else "default")
        return TaskHandle(self, job_id, task_name=name, queue_name=queue_name, task=found)

    def _task_named(self, name: str) -> Task[..., Any]:
        try:
            return self.tasks[name]
        except KeyError:
            known = ", ".join(f"`{n}`" for n in sorted(self.tasks)) or "none"
            raise KeyError(f"No task named `{name}` is registered (registered: {known})") from None

    # -- abort and stats ------------------------------------------------------------

    async def abort_job(
        self,
        job_id: str,
        queue_name: str,
        task_name: str,
        timeout: float,  # noqa: ASYNC109
    ) -> bool:
        """Abort job ``job_id``; see :meth:`TaskHandle.abort`."""
        full_id = self.full_id(job_id)
        now_ms = int(time.time() * 1000)
        async with self.redis_call("abort a job") as redis:
            outcome = await redis.eval(
                _ABORT_QUEUED,
                5,
                _keys.in_progress(full_id),
                self.queue_key(queue_name),
                _keys.job(full_id),
                _keys.retry(full_id),
                _keys.result(full_id),
                full_id,
                encode(_aborted_result(task_name, full_id, self.queue_key(queue_name), now_ms)),
                str(int(self.settings.tasks_keep_result * 1000)),
            )
            if outcome != 0:
                return bool(outcome == 1)
            # Running: ask its worker to cancel it, then wait for the worker's verdict.
            await redis.zadd(_keys.ABORT_SET, {full_id: now_ms})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.redis_call("abort a job") as redis:
                raw = await redis.get(_keys.result(full_id))
            if raw is not None:
                return is_aborted(decode(raw).get("r"))
            await asyncio.sleep(0.02)
        return False

    async def stats(self) -> TaskStats:
        """Counts of queued, deferred, running and failed jobs."""
        now_ms = time.time() * 1000
        names = self.queue_names()
        async with self.redis_call("read queue statistics") as redis:
            async with redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.zcount(self.queue_key(name), "-inf", now_ms)
                    pipe.zcount(self.queue_key(name), f"({now_ms}", "+inf")
                counts = await pipe.execute()
            in_progress = 0
            async for _ in redis.scan_iter(match=f"{_keys.IN_PROGRESS}{self.prefix}*", count=1000):
                in_progress += 1
            failed = int(await redis.zcard(f"{self.prefix}failed:index"))
        queues = {
            name: QueueCounts(queued=int(counts[2 * i]), deferred=int(counts[2 * i + 1]))
            for i, name in enumerate(names)
        }
        return TaskStats(queues=queues, in_progress=in_progress, failed=failed)

    # -- workers --------------------------------------------------------------------

    def worker(
        self,
        *,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        poll_delay: float | None = None,
        burst: bool = False,
        shutdown_grace: float | None = None,
    ) -> Worker:
        """A worker running this app's tasks; see :class:`~stellate.tasks.Worker`."""
        from stellate.tasks.worker import Worker

        return Worker(
            self,
            queues=queues,
            concurrency=concurrency,
            poll_delay=poll_delay,
            burst=burst,
            shutdown_grace=shutdown_grace,
        )


def _as_set(value: int | set[int] | None) -> frozenset[int] | None:
    if value is None:
        return None
    return frozenset({value}) if isinstance(value, int) else frozenset(value)


def _aborted_result(task: str, full_id: str, queue_key: str, now_ms: int) -> dict[str, Any]:
    # The same shape arq writes for a job it aborted, so readers need one code path.
    return {
        "t": 0,
        "f": task,
        "a": [],
        "k": {},
        "et": now_ms,
        "s": False,
        "r": {ERROR_MARKER: True, "type": "asyncio.exceptions.CancelledError", "message": ""},
        "st": now_ms,
        "ft": now_ms,
        "q": queue_key,
        "id": full_id,
    }


def _safe_url(url: str | None) -> str:
    if url is None:
        return "(not configured)"
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url
