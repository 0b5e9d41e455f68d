"""``enqueue_on_commit``: jobs written in the caller's database transaction (stellate-orm).

Inside an ORM transaction the job goes into the ``stellate_task_outbox`` table, in
that same transaction; after the commit it is relayed to Redis. A job whose
transaction rolls back is never queued, and a committed one is never lost: if the
process dies between the commit and the relay, the relay loop (run by the app and by
``stellate worker`` when the ``orm`` plugin is enabled) queues it later. Relaying
uses the job id as arq's job id, so a row relayed twice still runs once.

This module imports stellate-orm only inside its functions: stellate-tasks works
without it, and only this integration needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from stellate.tasks._serialization import decode, encode, unserialisable_arguments
from stellate.tasks.exceptions import TaskQueueUnavailable

if TYPE_CHECKING:
    from stellate.orm import Database
    from stellate.tasks.queue import TaskQueue
    from stellate.tasks.task import Task

__all__ = ["OUTBOX_TABLE", "enqueue_on_commit", "ensure_outbox_table", "relay_outbox"]

logger = logging.getLogger("stellate.tasks.outbox")

OUTBOX_TABLE = "stellate_task_outbox"

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} (
    id bigserial PRIMARY KEY,
    prefix text NOT NULL,
    job_id text NOT NULL,
    task text NOT NULL,
    queue text NOT NULL,
    payload bytea NOT NULL,
    defer_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS {OUTBOX_TABLE}_prefix_id ON {OUTBOX_TABLE} (prefix, id);
"""


async def ensure_outbox_table(db: Database) -> None:
    """Create the outbox table if it does not exist (the plugin does it at startup)."""
    async with db.connection() as connection:
        await connection.execute(_CREATE)


async def enqueue_on_commit(
    task: Task[..., Any],
    *args: Any,
    _job_id: str | None = None,
    _defer_by: float | datetime.timedelta | None = None,
    _defer_until: datetime.datetime | None = None,
    _queue: str | None = None,
    _using: str = "default",
    **kwargs: Any,
) -> str:
    """Queue ``task`` once the current database transaction commits.

    Inside a transaction of database ``_using`` the job is stored in the outbox table in
    that transaction and relayed to Redis after the commit; outside one it is queued
    now. Arguments are checked (signature, serialisable) here, so mistakes surface in
    the request, not in the relay.

    Args:
        task: the task to run.
        *args: its positional arguments.
        _job_id: the job's id (generated when omitted).
        _defer_by: run no earlier than this many seconds (or ``timedelta``) after now.
        _defer_until: run no earlier than this datetime.
        _queue: another queue than the task's own.
        _using: the database alias whose transaction the job joins.
        **kwargs: its keyword arguments.

    Returns:
        The job id; ``app.tasks.handle(job_id, task)`` follows the job.

    Raises:
        TaskArgumentError: bad or unserialisable arguments.
        RuntimeError: the outbox table does not exist (start the app with both the
            ``orm`` and ``tasks`` plugins, or call ``ensure_outbox_table``).
    """
    from stellate.orm import get_db

    queue = task.bound_queue()
    job_id = _job_id if _job_id is not None else uuid.uuid4().hex
    db = get_db(_using)
    if not db.in_transaction:
        handle = await task.enqueue(
            *args,
            _job_id=job_id,
            _defer_by=_defer_by,
            _defer_until=_defer_until,
            _queue=_queue,
            **kwargs,
        )
        return handle.id
    task.bind_arguments(args, kwargs)
    try:
        payload = encode([list(args), kwargs])
    except (TypeError, ValueError, OverflowError):
        raise unserialisable_arguments(task, args, kwargs) from None
    if _defer_by is not None and _defer_until is not None:
        raise ValueError("give `_defer_by` or `_defer_until`, not both")
    defer_until = _defer_until
    if _defer_by is not None:
        seconds = (
            _defer_by.total_seconds()
            if isinstance(_defer_by, datetime.timedelta)
            else float(_defer_by)
        )
        defer_until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    try:
        await db.execute(
            f"INSERT INTO {OUTBOX_TABLE} (prefix, job_id, task, queue, payload, defer_until) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            queue.prefix,
            job_id,
            task.name,
            _queue or task.queue_name,
            payload,
            defer_until,
        )
    except Exception as exc:
        if "does not exist" in str(exc) and OUTBOX_TABLE in str(exc):
            raise RuntimeError(
                f"The task outbox table `{OUTBOX_TABLE}` does not exist: start the app with "
                'both plugins (App(plugins=["orm", "tasks"])), which creates it, or call '
                "`await stellate.tasks.outbox.ensure_outbox_table(db)` once"
            ) from exc
        raise
    db.on_commit(lambda: _relay_after_commit(queue, db))
    return job_id


async def _relay_after_commit(queue: TaskQueue, db: Database) -> None:
    try:
        await relay_outbox(queue, db)
    except TaskQueueUnavailable as exc:
        # The rows are committed: the relay loop queues them once Redis is back.
        logger.warning("Outbox relay postponed: %s", exc)


async def relay_outbox(queue: TaskQueue, db: Database, *, limit: int = 500) -> int:
    """Move committed outbox rows of this app to Redis; returns how many were queued.

    Rows are locked (``FOR UPDATE SKIP LOCKED``) so several relays (the app's, each
    worker's) share the work without queueing a row twice at once, and deleted in the
    same transaction once queued. Should the process die in between, the row is queued
    again later and arq's job-id check makes that a no-op.
    """
    relayed = 0
    while True:
        async with db.transaction():
            rows = await db.fetch(
                f"SELECT id, job_id, task, queue, payload, defer_until FROM {OUTBOX_TABLE} "
                "WHERE prefix = $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                queue.prefix,
                limit,
            )
            if not rows:
                return relayed
            for row in rows:
                args, kwargs = decode(row["payload"])
                await queue.enqueue_raw(
                    row["task"],
                    args,
                    kwargs,
                    queue=row["queue"],
                    job_id=row["job_id"],
                    defer_until=row["defer_until"],
                )
            await db.execute(
                f"DELETE FROM {OUTBOX_TABLE} WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            relayed += len(rows)
        if len(rows) < limit:
            return relayed


@contextlib.asynccontextmanager
async def relay_loop(
    queue: TaskQueue, *, interval: float, using: str = "default"
) -> AsyncIterator[None]:
    """Create the outbox table, then relay leftover rows every ``interval`` seconds."""
    from stellate.orm import get_db

    db = get_db(using)
    await ensure_outbox_table(db)

    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await relay_outbox(queue, db)
            except Exception as exc:
                logger.warning("Outbox relay failed, will retry: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    runner = asyncio.create_task(loop())
    try:
        yield
    finally:
        # Let a relay pass in progress finish: cancelling it mid-transaction would roll
        # back the deletion of rows it already queued (harmless, but they would be
        # relayed again).
        stop.set()
        try:
            await asyncio.wait_for(runner, 10)
        except TimeoutError:
            logger.warning("Outbox relay did not stop within 10s; cancelled")
