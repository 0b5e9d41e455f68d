"""Transactions: commit/rollback, savepoints, the contextvar binding, on_commit, pinning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from stellate.orm import (
    ConcurrentTransactionUseError,
    Database,
    TransactionClosedError,
    get_db,
    on_commit,
    transaction,
)


@pytest.fixture
async def ledger(own_db: Database) -> AsyncIterator[Database]:
    """``own_db`` with a committed ``ledger`` table, dropped afterwards."""
    await own_db.execute("CREATE TABLE ledger (id serial PRIMARY KEY, note text NOT NULL)")
    yield own_db
    await own_db.execute("DROP TABLE ledger")


async def notes(db: Database) -> list[str]:
    return [row["note"] for row in await db.query("SELECT note FROM ledger ORDER BY id")]


async def test_commit_and_rollback(ledger: Database) -> None:
    async with ledger.transaction() as tx:
        await ledger.execute("INSERT INTO ledger (note) VALUES ('kept')")
        assert ledger.in_transaction
        assert ledger.current_transaction is tx
    assert tx.state == "committed"
    failed = ledger.transaction()

    async def insert_then_fail() -> None:
        async with failed:
            await ledger.execute("INSERT INTO ledger (note) VALUES ('dropped')")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await insert_then_fail()
    assert failed.state == "rolled_back"
    assert not ledger.in_transaction
    assert await notes(ledger) == ["kept"]


async def test_queries_in_the_block_use_the_transaction_connection(ledger: Database) -> None:
    async with ledger.transaction():
        pid = await ledger.fetchval("SELECT pg_backend_pid()")
        await ledger.execute("INSERT INTO ledger (note) VALUES ('uncommitted')")
        # A task started inside inherits the binding (same connection, sees the row).
        inner = await asyncio.create_task(ledger.fetchval("SELECT pg_backend_pid()"))
        assert inner == pid
        assert await asyncio.create_task(notes(ledger)) == ["uncommitted"]
        # A task that runs outside the transaction does not see it.
        outside = await _in_fresh_context(ledger, "SELECT count(*) FROM ledger")
        assert outside == 0
    assert await notes(ledger) == ["uncommitted"]


async def failing_block(
    db: Database, sql: str | None = None, callback: Callable[[], object] | None = None
) -> None:
    """A transaction block (a savepoint when nested) that runs ``sql`` and then fails."""
    async with db.transaction() as tx:
        if sql is not None:
            await db.execute(sql)
        if callback is not None:
            db.on_commit(callback)
        raise ValueError(f"{'inner' if tx.is_savepoint else 'block'} failed")


async def _in_fresh_context(db: Database, sql: str) -> object:
    token = db._state.tx_var.set(None)
    try:
        return await db.fetchval(sql)
    finally:
        db._state.tx_var.reset(token)


async def test_nested_savepoint_rollback_keeps_outer_work(ledger: Database) -> None:
    async with ledger.transaction():
        await ledger.execute("INSERT INTO ledger (note) VALUES ('outer')")
        with pytest.raises(ValueError, match="inner failed"):
            await failing_block(ledger, "INSERT INTO ledger (note) VALUES ('inner')")
        async with ledger.transaction():
            await ledger.execute("INSERT INTO ledger (note) VALUES ('second inner')")
        await ledger.execute("INSERT INTO ledger (note) VALUES ('outer again')")
    assert await notes(ledger) == ["outer", "second inner", "outer again"]


async def test_a_database_error_in_a_savepoint_leaves_the_outer_transaction_usable(
    ledger: Database,
) -> None:
    import asyncpg

    async with ledger.transaction():
        await ledger.execute("INSERT INTO ledger (note) VALUES ('before')")
        with pytest.raises(asyncpg.NotNullViolationError):
            async with ledger.transaction():
                await ledger.execute("INSERT INTO ledger (note) VALUES (NULL)")
        await ledger.execute("INSERT INTO ledger (note) VALUES ('after')")
    assert await notes(ledger) == ["before", "after"]


async def test_outer_rollback_undoes_released_savepoints(ledger: Database) -> None:
    async def released_then_fail() -> None:
        async with ledger.transaction():
            async with ledger.transaction():
                await ledger.execute("INSERT INTO ledger (note) VALUES ('inner')")
            raise ValueError("outer failed")

    with pytest.raises(ValueError, match="outer failed"):
        await released_then_fail()
    assert await notes(ledger) == []


async def test_on_commit_runs_after_the_outermost_commit_only(ledger: Database) -> None:
    calls: list[str] = []

    async def async_callback() -> None:
        # Runs after the commit, outside the transaction: the row is visible to others.
        calls.append(f"async sees {await _in_fresh_context(ledger, 'SELECT count(*) FROM ledger')}")

    async with ledger.transaction():
        await ledger.execute("INSERT INTO ledger (note) VALUES ('x')")
        ledger.on_commit(lambda: calls.append("outer"))
        async with ledger.transaction():
            ledger.on_commit(lambda: calls.append("inner"))
            ledger.on_commit(async_callback)
        assert calls == []  # the savepoint released, but nothing is committed yet
    assert calls == ["outer", "inner", "async sees 1"]


async def test_on_commit_callbacks_are_dropped_on_rollback(ledger: Database) -> None:
    calls: list[str] = []
    with pytest.raises(ValueError, match="failed"):
        await failing_block(ledger, callback=lambda: calls.append("outer"))
    async with ledger.transaction():
        ledger.on_commit(lambda: calls.append("kept"))
        with pytest.raises(ValueError, match="failed"):
            await failing_block(ledger, callback=lambda: calls.append("savepoint"))
    assert calls == ["kept"]


async def test_a_failing_on_commit_callback_is_logged_and_the_others_run(
    ledger: Database, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback broke")

    with caplog.at_level(logging.ERROR, logger="stellate.orm"):
        async with ledger.transaction():
            ledger.on_commit(broken)
            ledger.on_commit(lambda: calls.append("after"))
    assert calls == ["after"]
    assert "on_commit callback" in caplog.text
    assert "callback broke" in caplog.text


async def test_on_commit_outside_a_transaction_runs_now(ledger: Database) -> None:
    calls: list[str] = []
    ledger.on_commit(lambda: calls.append("sync"))
    assert calls == ["sync"]

    async def later() -> None:
        calls.append("async")

    ledger.on_commit(later)
    await ledger.close()  # close() waits for pending async callbacks
    assert calls == ["sync", "async"]
    await ledger.connect()


async def test_on_commit_after_the_block_is_refused(ledger: Database) -> None:
    async with ledger.transaction() as tx:
        pass
    with pytest.raises(TransactionClosedError, match="register callbacks inside"):
        tx.on_commit(lambda: None)


async def test_concurrent_use_of_the_transaction_connection_is_a_clear_error(
    ledger: Database,
) -> None:
    with pytest.raises(ConcurrentTransactionUseError) as caught:
        async with ledger.transaction():
            await asyncio.gather(
                ledger.fetchval("SELECT pg_sleep(0.2)"), ledger.fetchval("SELECT 1")
            )
    message = str(caught.value)
    assert "Cannot run `SELECT 1`" in message
    assert "is running `SELECT pg_sleep(0.2)`" in message
    assert "no asyncio.gather" in message
    # The transaction waited for the running statement, rolled back, and freed the
    # connection: the pool is whole and idle.
    await asyncio.sleep(0)
    status = ledger.pool_status()
    assert status["in_use"] == 0


async def test_a_task_outliving_its_transaction_gets_a_clear_error(ledger: Database) -> None:
    gate = asyncio.Event()

    async def late_query() -> object:
        await gate.wait()
        return await ledger.fetchval("SELECT 1")

    async with ledger.transaction():
        task = asyncio.create_task(late_query())
    gate.set()
    with pytest.raises(TransactionClosedError, match="outlived the block"):
        await task


async def test_a_transaction_object_is_single_use(ledger: Database) -> None:
    tx = ledger.transaction()
    async with tx:
        pass
    with pytest.raises(TransactionClosedError, match="already used"):
        async with tx:
            pass


async def test_isolation_and_readonly(ledger: Database) -> None:
    import asyncpg

    async with ledger.transaction(isolation="serializable", readonly=True):
        level = await ledger.fetchval("SHOW transaction_isolation")
        assert level == "serializable"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await ledger.execute("INSERT INTO ledger (note) VALUES ('no')")


async def test_module_level_helpers_use_get_db(db: Database) -> None:
    calls: list[str] = []
    async with transaction() as tx:
        assert tx.is_savepoint  # inside the test's rolled-back transaction
        on_commit(lambda: calls.append("x"))
        assert get_db().current_transaction is tx
    # The savepoint was released, but the test transaction (outermost) never commits.
    assert calls == []


async def test_pinned_transaction_serves_every_task_and_rolls_back(test_url: str) -> None:
    db = Database(test_url, alias="pinned", pool_size=2)
    await db.connect()
    try:
        await db.execute("CREATE TABLE IF NOT EXISTS pinned_rows (x int)")
        async with db.pinned_transaction():
            await db.execute("INSERT INTO pinned_rows VALUES (1)")
            # Concurrent queries take turns on the one connection instead of failing.
            counts = await asyncio.gather(
                *(db.fetchval("SELECT count(*) FROM pinned_rows") for _ in range(5))
            )
            assert counts == [1] * 5
            with pytest.raises(RuntimeError, match="already has a pinned transaction"):
                async with db.pinned_transaction():
                    pass
        assert await db.fetchval("SELECT count(*) FROM pinned_rows") == 0
        await db.execute("DROP TABLE pinned_rows")
    finally:
        await db.close()


async def test_db_fixture_rolls_back_between_tests_part_1(db: Database) -> None:
    await db.execute("CREATE TABLE fixture_probe (x int)")
    await db.execute("INSERT INTO fixture_probe VALUES (1)")
    assert await db.fetchval("SELECT count(*) FROM fixture_probe") == 1


async def test_db_fixture_rolls_back_between_tests_part_2(db: Database) -> None:
    assert await db.fetchval("SELECT to_regclass('fixture_probe')") is None


async def test_pinned_transactions_redefining_a_table_do_not_hit_stale_statements(
    test_url: str,
) -> None:
    # Two tests creating a same-named table with other columns, on one connection:
    # without clearing asyncpg's statement cache the second SELECT fails with
    # InvalidCachedStatementError inside the transaction.
    db = Database(test_url, alias="redefined", pool_size=1)
    await db.connect()
    try:
        async with db.pinned_transaction():
            await db.execute("CREATE TABLE redefined (a int, b text)")
            assert await db.fetch("SELECT * FROM redefined WHERE a = $1", 1) == []
        async with db.pinned_transaction():
            await db.execute("CREATE TABLE redefined (a int, b int, c int)")
            await db.execute("INSERT INTO redefined VALUES (1, 2, 3)")
            rows = await db.fetch("SELECT * FROM redefined WHERE a = $1", 1)
            assert [tuple(row) for row in rows] == [(1, 2, 3)]
    finally:
        await db.close()
