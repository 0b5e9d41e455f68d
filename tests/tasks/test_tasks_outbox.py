"""enqueue_on_commit with stellate-orm: jobs join the database transaction."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import RUN_PREFIX

from stellate.core import App
from stellate.tasks import TaskArgumentError, TaskStatus

pytest.importorskip("stellate.orm")


@pytest.fixture
async def orm_db() -> AsyncIterator[Any]:
    # A throwaway database where transactions really commit (the `db` fixture never
    # does): on STELLATE_TEST_DATABASE_URL's server, or the embedded one when unset.
    from stellate.orm.testing import temporary_database
    from stellate.tasks.outbox import OUTBOX_TABLE, ensure_outbox_table

    async with temporary_database() as db:
        await ensure_outbox_table(db)
        yield db
        await db.execute(f"DELETE FROM {OUTBOX_TABLE} WHERE prefix LIKE $1", RUN_PREFIX + "%")


async def _outbox_rows(db: Any, app: App) -> int:
    from stellate.tasks.outbox import OUTBOX_TABLE

    return int(
        await db.fetchval(
            f"SELECT count(*) FROM {OUTBOX_TABLE} WHERE prefix = $1", app.tasks.prefix
        )
    )


async def test_committed_job_is_relayed_and_runs(app: App, orm_db: Any) -> None:
    from stellate.tasks.outbox import enqueue_on_commit

    @app.task
    async def welcome(user_id: int) -> str:
        return f"welcome {user_id}"

    async with orm_db.transaction():
        job_id = await enqueue_on_commit(welcome, 7)
        assert await _outbox_rows(orm_db, app) == 1
        # Not in Redis before the commit.
        assert await app.tasks.handle(job_id, welcome).status() is TaskStatus.NOT_FOUND
    assert await app.tasks.handle(job_id, welcome).status() is TaskStatus.QUEUED
    assert await _outbox_rows(orm_db, app) == 0
    async with app.tasks.worker():
        assert await app.tasks.handle(job_id, welcome).result(timeout=5) == "welcome 7"


async def test_rolled_back_job_never_runs(app: App, orm_db: Any) -> None:
    from stellate.tasks.outbox import enqueue_on_commit, relay_outbox

    @app.task
    async def charge(amount: int) -> None:
        raise AssertionError("must not run")

    job_ids: list[str] = []

    async def checkout() -> None:
        async with orm_db.transaction():
            job_ids.append(await enqueue_on_commit(charge, 100))
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        await checkout()
    [job_id] = job_ids
    assert await _outbox_rows(orm_db, app) == 0
    assert await relay_outbox(app.tasks, orm_db) == 0
    assert await app.tasks.handle(job_id, charge).status() is TaskStatus.NOT_FOUND


async def test_outside_a_transaction_it_enqueues_now(app: App, orm_db: Any) -> None:
    from stellate.tasks.outbox import enqueue_on_commit

    @app.task
    async def now() -> int:
        return 1

    job_id = await enqueue_on_commit(now, _job_id="right-away")
    assert job_id == "right-away"
    assert await app.tasks.handle(job_id, now).status() is TaskStatus.QUEUED


async def test_bad_arguments_fail_inside_the_transaction(app: App, orm_db: Any) -> None:
    from stellate.tasks.outbox import enqueue_on_commit

    @app.task
    async def store(data: Any) -> None:
        return None

    async with orm_db.transaction():
        with pytest.raises(TaskArgumentError, match="Argument `data`"):
            await enqueue_on_commit(store, object())
        with pytest.raises(TaskArgumentError, match="cannot take these arguments"):
            await enqueue_on_commit(store, 1, 2)
    assert await _outbox_rows(orm_db, app) == 0


async def test_job_committed_by_a_process_that_died_is_relayed_later(
    make_app: Callable[..., App], orm_db: Any, redis_url: str, tmp_path: Path
) -> None:
    from stellate.tasks.outbox import relay_loop, relay_outbox

    app = make_app()

    @app.task(name="outbox.survivor")
    async def survivor(n: int) -> int:
        return n + 1

    script = tmp_path / "dies_after_commit.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os
            from stellate.core import App
            from stellate.orm import connect
            from stellate.tasks import TasksPlugin
            from stellate.tasks.outbox import enqueue_on_commit

            app = App(plugins=[TasksPlugin()], settings={{"tasks": {{
                "redis_url": {redis_url!r}, "tasks_prefix": {app.tasks.prefix!r}}}}})

            @app.task(name="outbox.survivor")
            async def survivor(n: int) -> int:
                return n + 1

            async def main():
                async with connect({orm_db.url!r}) as db:
                    async with db.transaction():
                        # Runs first after the commit: the process dies before the relay.
                        db.on_commit(lambda: os._exit(0))
                        print(await enqueue_on_commit(survivor, 41), flush=True)

            asyncio.run(main())
            """
        )
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script)], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr.decode()
    job_id = done.stdout.decode().strip()
    assert await _outbox_rows(orm_db, app) == 1
    handle = app.tasks.handle(job_id, survivor)
    assert await handle.status() is TaskStatus.NOT_FOUND

    async with relay_loop(app.tasks, interval=0.05), app.tasks.worker():
        assert await handle.result(timeout=5) == 42
    assert await _outbox_rows(orm_db, app) == 0
    assert await relay_outbox(app.tasks, orm_db) == 0


async def test_app_with_orm_and_tasks_relays_on_commit(redis_url: str, orm_db: Any) -> None:
    from tasks_helpers import new_prefix

    from stellate.core.testing import AppClient
    from stellate.orm import get_db
    from stellate.tasks.outbox import OUTBOX_TABLE, enqueue_on_commit

    app = App(
        plugins=["orm", "tasks"],
        settings={
            "orm": {"database_url": orm_db.url},
            "tasks": {"redis_url": redis_url, "tasks_prefix": new_prefix()},
        },
    )
    assert [plugin.name for plugin in app.plugins] == ["orm", "tasks"]

    @app.task
    async def notify(order: int) -> str:
        return f"order {order} confirmed"

    @app.post("/orders/{order:int}")
    async def create(request: Any, order: int) -> dict[str, str]:
        async with get_db().transaction():
            job_id = await enqueue_on_commit(notify, order)
        return {"job": job_id}

    async with AppClient(app) as client, app.tasks.worker():
        response = await client.post("/orders/12")
        assert response.status_code == 200
        handle = app.tasks.handle(response.json()["job"], notify)
        assert await handle.result(timeout=5) == "order 12 confirmed"
        leftover = await get_db().fetchval(
            f"SELECT count(*) FROM {OUTBOX_TABLE} WHERE prefix = $1", app.tasks.prefix
        )
        assert leftover == 0
