"""stellate.tasks: background tasks on arq and Redis, with retries, hooks, groups and cron."""

from __future__ import annotations

from stellate.tasks.cron import CronSchedule, parse_cron
from stellate.tasks.exceptions import (
    ResultTimeout,
    TaskAborted,
    TaskArgumentError,
    TaskFailed,
    TaskGroupError,
    TaskQueueUnavailable,
    TasksError,
    TaskTimeout,
)
from stellate.tasks.failed import FailedJob, FailedJobStore
from stellate.tasks.group import TaskGroup
from stellate.tasks.handle import TaskHandle, TaskStatus
from stellate.tasks.outbox import enqueue_on_commit
from stellate.tasks.plugin import TasksPlugin
from stellate.tasks.queue import QueueCounts, TaskQueue, TaskStats
from stellate.tasks.retry import Backoff, RetryPolicy
from stellate.tasks.settings import TasksSettings
from stellate.tasks.task import Task, TaskDecorator, task
from stellate.tasks.worker import Worker

__all__ = [
    "Backoff",
    "CronSchedule",
    "FailedJob",
    "FailedJobStore",
    "QueueCounts",
    "ResultTimeout",
    "RetryPolicy",
    "Task",
    "TaskAborted",
    "TaskArgumentError",
    "TaskDecorator",
    "TaskFailed",
    "TaskGroup",
    "TaskGroupError",
    "TaskHandle",
    "TaskQueue",
    "TaskQueueUnavailable",
    "TaskStats",
    "TaskStatus",
    "TaskTimeout",
    "TasksError",
    "TasksPlugin",
    "TasksSettings",
    "Worker",
    "enqueue_on_commit",
    "parse_cron",
    "task",
]
