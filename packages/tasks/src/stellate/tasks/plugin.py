"""The `tasks` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from stellate.core import ImproperlyConfigured, JSONResponse, Plugin
from stellate.tasks.cli import tasks_command, worker_command
from stellate.tasks.exceptions import TaskQueueUnavailable
from stellate.tasks.queue import TaskQueue
from stellate.tasks.settings import TasksSettings

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from stellate.core import App


class TasksPlugin(Plugin):
    """Enables stellate-tasks in an app.

    Adds ``app.tasks`` (the :class:`~stellate.tasks.TaskQueue`), ``app.task`` and
    ``app.cron`` (its decorators), the ``stellate worker`` and ``stellate tasks``
    commands, a ``tasks`` health check (Redis answers) and a 503 response for
    ``TaskQueueUnavailable`` raised in a request.
    """

    name: ClassVar[str] = "tasks"
    requires: ClassVar[tuple[str, ...]] = ()
    # With the orm plugin, the outbox relay needs the database connected first.
    after: ClassVar[tuple[str, ...]] = ("orm",)
    settings: ClassVar[type[TasksSettings]] = TasksSettings
    env_prefix: ClassVar[str | None] = "STELLATE_"
    extensions: ClassVar[tuple[str, ...]] = ("tasks", "task", "cron")

    def setup(self, app: App) -> None:
        config: TasksSettings = self.config or TasksSettings()
        production = app.settings.is_production
        if production and config.redis_url is None:
            raise ImproperlyConfigured(
                "STELLATE_REDIS_URL (or REDIS_URL) is not set: production needs a Redis "
                "server for tasks; set it to e.g. redis://redis.internal:6379/0"
            )
        queue = TaskQueue(config, production=production)
        app.add_extension("tasks", queue)
        app.add_extension("task", queue.task)
        app.add_extension("cron", queue.cron)
        for module in config.tasks_modules:
            queue.include(module)
        app.add_lifespan(queue.lifespan)
        if any(plugin.name == "orm" for plugin in app.plugins):
            from stellate.tasks.outbox import relay_loop

            interval = config.tasks_outbox_interval
            app.add_lifespan(lambda app: relay_loop(queue, interval=interval))
        app.add_health_check("tasks", queue.ping)
        app.add_command(worker_command(app, queue))
        app.add_command(tasks_command(app, queue))
        app.add_exception_handler(TaskQueueUnavailable, _queue_unavailable)


async def _queue_unavailable(request: Request, exc: Exception) -> Response:
    # The rest of the app keeps serving; only what needs the queue answers 503.
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
