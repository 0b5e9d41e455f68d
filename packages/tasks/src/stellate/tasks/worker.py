"""Worker: runs an app's tasks from its Redis queues (one arq worker per queue)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from stellate.tasks._runner import CRASH_RERUNS, run_job
from stellate.tasks._serialization import decode, encode

if TYPE_CHECKING:
    from arq.worker import Worker as ArqWorker

    from stellate.tasks.queue import TaskQueue
    from stellate.tasks.task import Task

__all__ = ["Worker"]

logger = logging.getLogger("stellate.tasks.worker")

# arq keeps a job's "in progress" lock for its timeout plus 10 s; our own timeout
# fires first, so a job that overruns fails with a clear TaskTimeout.
_ARQ_TIMEOUT_MARGIN = 1.0


class Worker:
    """Runs the tasks of one app; ``stellate worker`` starts one, tests run one in-process.

    Args:
        queue: the app's :class:`~stellate.tasks.TaskQueue` (``app.tasks``).
        queues: queue names to serve (default: every queue a registered task uses).
        concurrency: jobs run at a time per queue (default ``tasks_concurrency``).
        poll_delay: seconds between polls of an empty queue (default ``tasks_poll_delay``).
        burst: stop once the queues are empty.
        shutdown_grace: seconds running jobs may finish after :meth:`stop`; jobs still
            running then are cancelled and queued again (default ``tasks_shutdown_grace``).

    Example:
        ```python
        async with app.tasks.worker():
            handle = await send_mail.enqueue("ada@example.com")
            await handle.result(timeout=5)
        ```
    """

    def __init__(
        self,
        queue: TaskQueue,
        *,
        queues: list[str] | None = None,
        concurrency: int | None = None,
        poll_delay: float | None = None,
        burst: bool = False,
        shutdown_grace: float | None = None,
    ) -> None:
        settings = queue.settings
        self.queue = queue
        self.queues = list(queues) if queues else queue.queue_names()
        self.concurrency = concurrency or settings.tasks_concurrency
        self.poll_delay = poll_delay if poll_delay is not None else settings.tasks_poll_delay
        self.burst = burst
        self.shutdown_grace = (
            shutdown_grace if shutdown_grace is not None else settings.tasks_shutdown_grace
        )
        if self.concurrency < 1:
            raise ValueError(f"concurrency=`{self.concurrency}` must be >= 1")
        self._workers: list[ArqWorker] = []
        self._stopping = False
        self._started = asyncio.Event()
        self._background: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None

    @property
    def jobs_complete(self) -> int:
        """Jobs that succeeded in this worker."""
        return sum(worker.jobs_complete for worker in self._workers)

    @property
    def jobs_failed(self) -> int:
        """Jobs that failed (after their last attempt) or were aborted in this worker."""
        return sum(worker.jobs_failed for worker in self._workers)

    @property
    def jobs_retried(self) -> int:
        """Attempts that ended in a retry in this worker."""
        return sum(worker.jobs_retried for worker in self._workers)

    def _build(self, url: str) -> list[ArqWorker]:
        from arq.cron import cron
        from arq.worker import Worker as ArqWorker
        from arq.worker import func

        if not self.queue.tasks:
            raise RuntimeError(
                "No tasks are registered: declare them with @app.task, or list their modules "
                "in STELLATE_TASKS_MODULES"
            )
        settings = self.queue.settings
        workers = []
        for name in self.queues:
            functions = [
                func(
                    functools.partial(_job_function, self.queue, task, name),  # type: ignore[arg-type]
                    name=task.name,
                    # Runs a dead worker left unfinished count as tries: allow them, plus
                    # one so the job still reaches run_job to be recorded as failed.
                    max_tries=task.retry.max_retries + 2 + CRASH_RERUNS,
                    timeout=(task.timeout or settings.tasks_job_timeout) + _ARQ_TIMEOUT_MARGIN,
                )
                for task in self.queue.tasks.values()
            ]
            crons = [
                cron(
                    functools.partial(_job_function, self.queue, task, name),  # type: ignore[arg-type]
                    name=f"{self.queue.prefix}cron:{task.name}",
                    month=_arq_field(schedule.month),
                    day=_arq_field(schedule.day),
                    weekday=_arq_field(schedule.weekday),
                    hour=_arq_field(schedule.hour),
                    minute=_arq_field(schedule.minute),
                    second=_arq_field(schedule.second),
                    microsecond=0,
                    run_at_startup=schedule.run_at_startup,
                    unique=True,
                    timeout=(task.timeout or settings.tasks_job_timeout) + _ARQ_TIMEOUT_MARGIN,
                    # A kept result makes a second worker's enqueue of the same scheduled
                    # time a no-op even after the first run has finished.
                    keep_result=max(settings.tasks_keep_result, 120.0),
                    max_tries=task.retry.max_retries + 2 + CRASH_RERUNS,
                )
                for task, schedule in self.queue.crons
                if task.queue_name == name
            ]
            workers.append(
                ArqWorker(
                    functions=functions,
                    cron_jobs=crons,
                    queue_name=self.queue.queue_key(name),
                    redis_pool=self.queue.new_client(url),
                    burst=self.burst,
                    handle_signals=False,
                    max_jobs=self.concurrency,
                    poll_delay=self.poll_delay,
                    job_timeout=settings.tasks_job_timeout + _ARQ_TIMEOUT_MARGIN,
                    keep_result=settings.tasks_keep_result,
                    health_check_interval=10,
                    allow_abort_jobs=True,
                    job_serializer=encode,
                    job_deserializer=decode,
                    log_results=False,
                )
            )
        return workers

    async def run(self, *, handle_signals: bool = False) -> None:
        """Run until :meth:`stop` (or, in burst mode, until the queues are empty).

        Args:
            handle_signals: stop gracefully on SIGTERM/SIGINT (what ``stellate worker`` does).
        """
        url = await self.queue.resolve_url()
        # Fail fast, with the queue's clear error, when Redis is not there.
        await self.queue.ping()
        self._workers = self._build(url)
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        logger.info(
            "Worker serving queues %s with %d task(s), concurrency %d",
            ", ".join(self.queues),
            len(self.queue.tasks),
            self.concurrency,
        )
        self._started.set()
        try:
            await asyncio.gather(*(self._run_one(worker) for worker in self._workers))
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            if self._shutdown is not None:
                await self._shutdown
            await asyncio.gather(
                *(_close(worker) for worker in self._workers), return_exceptions=True
            )

    async def _run_one(self, worker: ArqWorker) -> None:
        if self._stopping:
            return
        try:
            await worker.async_run()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._stopping or (task is not None and task.cancelling()):
                raise

    def stop(self) -> None:
        """Stop taking jobs; running ones get ``shutdown_grace`` seconds, then are re-queued."""
        if self._stopping:
            return
        self._stopping = True
        logger.info("Worker stopping (grace %.1fs)", self.shutdown_grace)
        self._shutdown = asyncio.get_running_loop().create_task(self._shut_down())

    async def _shut_down(self) -> None:
        for worker in self._workers:
            worker.allow_pick_jobs = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_grace
        # arq offers no event for "all jobs done": poll its task table briefly.
        while loop.time() < deadline and any(  # noqa: ASYNC110
            not task.done() for worker in self._workers for task in worker.tasks.values()
        ):
            await asyncio.sleep(0.02)
        for worker in self._workers:
            _cancel_once(worker.tasks.values())
        # A cancellation can be swallowed by a Redis call arq's loop is in the middle
        # of; repeat it, but only after giving the loop time to unwind (a second
        # cancel during its cleanup would leave a connection half-released).
        while True:
            running = [
                w.main_task
                for w in self._workers
                if w.main_task is not None and not w.main_task.done()
            ]
            if not running:
                return
            for task in running:
                task.cancel()
            await asyncio.wait(running, timeout=1.0)

    async def __aenter__(self) -> Worker:
        self._background = asyncio.create_task(self.run())
        started = asyncio.create_task(self._started.wait())
        done, _ = await asyncio.wait({self._background, started}, return_when="FIRST_COMPLETED")
        if self._background in done:
            started.cancel()
            self._background.result()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._background is not None:
            await self._background
        if self._shutdown is not None:
            await self._shutdown


async def _job_function(
    queue: TaskQueue,
    task: Task[..., Any],
    queue_name: str,
    ctx: dict[str, Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    return await run_job(queue, task, queue_name, ctx, args, kwargs)


async def _close(worker: ArqWorker) -> None:
    # arq's own close() calls redis-py's deprecated close(); this is the same steps
    # with aclose(), so no connection is left open.
    _cancel_once(worker.tasks.values())
    if worker.main_task is not None:
        _cancel_once([worker.main_task])
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    pool = worker.pool
    try:
        from redis.exceptions import RedisError

        with contextlib.suppress(OSError, TimeoutError, RedisError):
            await pool.delete(worker.health_check_key)
    finally:
        await pool.aclose(close_connection_pool=True)


def _cancel_once(tasks: Iterable[asyncio.Task[Any]]) -> None:
    # A second cancel would interrupt a job that is already unwinding (releasing its
    # Redis connection), leaving the connection half-released. A cancelled job is not
    # lost: arq queues it again for another worker.
    for task in tasks:
        if not task.done() and not task.cancelling():
            task.cancel()


def _arq_field(values: frozenset[int] | None) -> set[int] | None:
    return None if values is None else set(values)
