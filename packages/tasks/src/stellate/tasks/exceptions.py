"""Errors raised by stellate-tasks."""

from __future__ import annotations

__all__ = [
    "ResultTimeout",
    "TaskAborted",
    "TaskArgumentError",
    "TaskFailed",
    "TaskGroupError",
    "TaskQueueUnavailable",
    "TaskTimeout",
    "TasksError",
]


class TasksError(Exception):
    """Base class of the errors of stellate-tasks."""


class TaskQueueUnavailable(TasksError):
    """Redis could not be reached (or did not answer in time) while talking to the queue."""


class TaskArgumentError(TasksError, TypeError):
    """The arguments given to a task do not fit its signature or cannot be serialised."""


class TaskTimeout(TasksError, TimeoutError):
    """A task ran longer than its ``timeout`` (raised inside the worker)."""


class ResultTimeout(TasksError, TimeoutError):
    """Waiting for a task's result took longer than the caller's ``timeout``."""


class TaskFailed(TasksError):
    """A task failed in the worker; carries the remote error's type, message and traceback.

    Attributes:
        task: the task's name.
        job_id: the job's id.
        error_type: qualified name of the exception raised in the worker.
        error: the exception's message.
        traceback: the formatted traceback from the worker ("" when unknown).
    """

    def __init__(
        self, task: str, job_id: str, error_type: str, error: str, traceback: str = ""
    ) -> None:
        self.task = task
        self.job_id = job_id
        self.error_type = error_type
        self.error = error
        self.traceback = traceback
        super().__init__(f"Task `{task}` (job `{job_id}`) failed: {error_type}: {error}")


class TaskAborted(TasksError):
    """The job was aborted before it finished (``TaskHandle.abort()``)."""

    def __init__(self, task: str, job_id: str) -> None:
        self.task = task
        self.job_id = job_id
        super().__init__(f"Task `{task}` (job `{job_id}`) was aborted")


class TaskGroupError(TasksError):
    """Some tasks of a ``TaskGroup`` failed or did not finish in time.

    Attributes:
        results: one entry per task, in the order they were added: the result, or the
            exception of the tasks that failed.
        errors: ``(index, exception)`` of each failed task.
    """

    def __init__(self, results: list[object], errors: list[tuple[int, BaseException]]) -> None:
        self.results = results
        self.errors = errors
        lines = [f"  [{index}] {exc}" for index, exc in errors]
        super().__init__(
            f"{len(errors)} of {len(results)} tasks in the group failed:\n" + "\n".join(lines)
        )
