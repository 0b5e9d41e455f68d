"""The ``stellate worker`` and ``stellate tasks`` commands."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

import click

from stellate.tasks.exceptions import TaskQueueUnavailable

if TYPE_CHECKING:
    from stellate.core import App
    from stellate.tasks.queue import TaskQueue

__all__ = ["tasks_command", "worker_command"]


def worker_command(app: App, queue: TaskQueue) -> click.Command:
    """``stellate worker``: run the app's tasks until SIGTERM/SIGINT."""

    @click.command("worker")
    @click.option(
        "--queue", "queues", multiple=True, help="Queue to serve (repeatable; default: all)."
    )
    @click.option("--concurrency", type=click.IntRange(min=1), help="Jobs run at a time.")
    @click.option("--burst", is_flag=True, help="Stop once the queues are empty.")
    @click.option("--poll-delay", type=click.FloatRange(min=0.001), help="Seconds between polls.")
    def worker(
        queues: tuple[str, ...], concurrency: int | None, burst: bool, poll_delay: float | None
    ) -> None:
        """Run a worker for this app's tasks (with the app's startup and shutdown).

        \b
        Examples:
          stellate --app app:app worker
          stellate --app app:app worker --queue emails --concurrency 20
          stellate --app app:app worker --burst      # drain the queues, then exit
        """

        if not logging.getLogger().handlers:
            logging.basicConfig(
                level=app.settings.log_level.upper(),
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
        # Stellate logs one structured line per job (id, task, try, duration, outcome);
        # arq's own per-job lines would repeat them.
        logging.getLogger("arq").setLevel(logging.WARNING)

        async def main() -> None:
            runner = queue.worker(
                queues=list(queues) or None,
                concurrency=concurrency,
                poll_delay=poll_delay,
                burst=burst,
            )
            # The app's startup runs first, so what tasks use (the database pool, say)
            # exists in the worker too.
            async with app.router.lifespan_context(app):
                await runner.run(handle_signals=True)
            click.echo(
                f"worker stopped: {runner.jobs_complete} complete, {runner.jobs_failed} failed, "
                f"{runner.jobs_retried} retried"
            )

        try:
            asyncio.run(main())
        except TaskQueueUnavailable as exc:
            raise click.ClickException(str(exc)) from None

    return worker


def tasks_command(app: App, queue: TaskQueue) -> click.Group:
    """``stellate tasks``: job counts; ``failed`` lists failed jobs; ``retry ID`` re-queues one."""

    @click.group("tasks", invoke_without_command=True)
    @click.option("--watch", is_flag=True, help="Refresh the counts every --interval seconds.")
    @click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True)
    @click.pass_context
    def tasks(ctx: click.Context, watch: bool, interval: float) -> None:
        """Show queued, deferred, in-progress and failed jobs.

        \b
        Examples:
          stellate --app app:app tasks
          stellate --app app:app tasks failed
          stellate --app app:app tasks retry JOB_ID
        """
        if ctx.invoked_subcommand is not None:
            return

        async def main() -> None:
            try:
                while True:
                    stats = await queue.stats()
                    if watch:
                        click.clear()
                    click.echo(_format_stats(stats))
                    if not watch:
                        return
                    await asyncio.sleep(interval)
            finally:
                await queue.close()

        asyncio.run(main())

    @tasks.command("failed")
    @click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
    @click.option("--traceback", "show_traceback", is_flag=True, help="Print each traceback.")
    def failed(limit: int, show_traceback: bool) -> None:
        """List failed jobs, newest first.

        \b
        Example:
          stellate --app app:app tasks failed
        """

        async def main() -> list[Any]:
            try:
                return await queue.failed.list(limit)
            finally:
                await queue.close()

        records = asyncio.run(main())
        if not records:
            click.echo("no failed jobs")
            return
        for record in records:
            when = datetime.datetime.fromtimestamp(record.failed_at, datetime.UTC)
            click.echo(
                f"{record.id}  {record.task}  queue={record.queue}  attempts={record.attempts}  "
                f"{when:%Y-%m-%d %H:%M:%S}Z  {record.error_type}: {record.error}"
            )
            if show_traceback:
                click.echo(record.traceback)

    @tasks.command("retry")
    @click.argument("job_id")
    def retry(job_id: str) -> None:
        """Queue failed job JOB_ID again.

        \b
        Example:
          stellate --app app:app tasks retry 3f2a9c1e
        """

        async def main() -> str:
            try:
                handle = await queue.failed.retry(job_id)
            except KeyError as exc:
                raise click.ClickException(str(exc.args[0])) from None
            finally:
                await queue.close()
            return handle.id

        new_id = asyncio.run(main())
        click.echo(f"queued failed job {job_id} again as job {new_id}")

    return tasks


def _format_stats(stats: Any) -> str:
    lines = [f"{'queue':<20} {'queued':>8} {'deferred':>9}"]
    for name, counts in stats.queues.items():
        lines.append(f"{name:<20} {counts.queued:>8} {counts.deferred:>9}")
    lines.append(f"in progress: {stats.in_progress}")
    lines.append(f"failed: {stats.failed}")
    lines.append(f"at {time.strftime('%H:%M:%S')}")
    return "\n".join(lines)
