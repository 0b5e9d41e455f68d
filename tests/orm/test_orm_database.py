"""Database: queries, pool behaviour, errors, aliases, connect(), observers."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from stellate.orm import (
    Database,
    DatabaseConnectionError,
    DatabaseNotConfiguredError,
    DatabaseNotConnectedError,
    Field,
    Model,
    PoolTimeoutError,
    connect,
    get_db,
)
from stellate.orm.database import active_databases, mask_url
from stellate.orm.testing import QueryCountError, create_tables


async def test_raw_helpers_return_rows_dicts_and_values(db: Database) -> None:
    await db.execute("CREATE TABLE books (id int PRIMARY KEY, title text, pages int)")
    status = await db.execute(
        "INSERT INTO books VALUES ($1, $2, $3), ($4, $5, $6)", 1, "Dune", 412, 2, "Emma", 320
    )
    assert status == "INSERT 0 2"
    rows = await db.query("SELECT id, title FROM books ORDER BY id")
    assert rows == [{"id": 1, "title": "Dune"}, {"id": 2, "title": "Emma"}]
    row = await db.query_one(
        "SELECT count(*) AS total, count(*) FILTER (WHERE pages > $1) AS long FROM books", 400
    )
    assert row == {"total": 2, "long": 1}
    assert await db.query_one("SELECT * FROM books WHERE id = $1", 99) is None
    assert await db.query_val("SELECT title FROM books WHERE id = $1", 2) == "Emma"
    assert await db.query_val("SELECT title FROM books WHERE id = $1", 99) is None
    record = await db.fetchrow("SELECT title, pages FROM books WHERE id = 1")
    assert record["pages"] == 412
    assert await db.fetchval("SELECT title, pages FROM books WHERE id = 1", column=1) == 412


async def test_executemany_and_copy_records(db: Database) -> None:
    await db.execute("CREATE TABLE points (x int, y int)")
    await db.executemany("INSERT INTO points VALUES ($1, $2)", [(1, 2), (3, 4)])
    status = await db.copy_records_to_table(
        "points", records=[(i, i * i) for i in range(100)], columns=["x", "y"]
    )
    assert status == "COPY 100"
    assert await db.query_val("SELECT count(*) FROM points") == 102
    assert await db.query_val("SELECT sum(y) FROM points WHERE x = 3") == 4 + 9


async def test_get_db_returns_the_test_database(database: Database) -> None:
    assert get_db() is database
    assert get_db("default") is database


async def test_get_db_unknown_alias_names_configured_ones_and_the_fix(database: Database) -> None:
    with pytest.raises(DatabaseNotConfiguredError) as caught:
        get_db("replica")
    message = str(caught.value)
    assert "`replica`" in message
    assert "configured: `default`" in message
    assert "STELLATE_DATABASES" in message


async def test_outside_a_transaction_each_query_gets_its_own_connection(own_db: Database) -> None:
    # Two sleeping queries on a pool of two finish together: they ran side by side.
    started = time.perf_counter()
    pids = await asyncio.gather(
        own_db.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.3)"),
        own_db.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.3)"),
    )
    elapsed = time.perf_counter() - started
    assert len(set(pids)) == 2
    assert elapsed < 0.55
    assert own_db.pool_status()["in_use"] == 0


async def test_a_read_outside_a_transaction_is_one_statement(test_url: str) -> None:
    # asyncpg's query logger sees every statement the connection sends, resets included.
    for reset, expected in (
        ("auto", ["SELECT 1"]),
        ("full", ["SELECT 1", "reset"]),
    ):
        db = Database(test_url, alias="single", pool_size=1, reset=reset)
        await db.connect()
        try:
            sent: list[str] = []
            async with db.connection() as raw:
                raw.add_query_logger(lambda record, sent=sent: sent.append(record.query))
            sent.clear()
            await db.fetchval("SELECT 1")
            await asyncio.sleep(0.01)  # asyncpg calls query loggers with call_soon
            assert [q if q == "SELECT 1" else "reset" for q in sent] == expected, sent
        finally:
            await db.close()


async def test_acquire_timeout_reports_pool_size_and_waiters(test_url: str) -> None:
    small = Database(test_url, alias="small", pool_size=1, acquire_timeout=0.2)
    await small.connect()
    try:
        async with small.transaction():
            # The only connection is held by this transaction; two more tasks wait.
            results = await asyncio.gather(
                _outside_transaction(small), _outside_transaction(small), return_exceptions=True
            )
        errors = [r for r in results if isinstance(r, PoolTimeoutError)]
        assert len(errors) == 2
        message = str(errors[0])
        assert "`small`" in message
        assert "1 of 1 connections are in use" in message
        assert "1 other task is waiting" in message
        assert "STELLATE_POOL_SIZE" in message
        # Once the transaction ended the pool serves again.
        assert await small.fetchval("SELECT 7") == 7
    finally:
        await small.close()


async def _outside_transaction(db: Database) -> object:
    # A new task whose context has no transaction: it must acquire its own connection.
    token = db._state.tx_var.set(None)
    try:
        return await db.fetchval("SELECT 1")
    finally:
        db._state.tx_var.reset(token)


async def test_cancelled_query_returns_a_clean_connection(own_db: Database) -> None:
    task = asyncio.create_task(own_db.fetchval("SELECT pg_sleep(10)"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.perf_counter()
    activity = await own_db.query(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = 'stellate:own' "
        "AND pid <> pg_backend_pid()"
    )
    assert time.perf_counter() - started < 1
    assert all(row["state"] == "idle" for row in activity), activity
    assert own_db.pool_status()["in_use"] == 0
    # Both pooled connections answer at once: none is stuck behind the sleep.
    assert await asyncio.gather(own_db.fetchval("SELECT 1"), own_db.fetchval("SELECT 2")) == [
        1,
        2,
    ]


async def test_cancelled_query_inside_a_transaction_rolls_back(own_db: Database) -> None:
    await own_db.execute("CREATE TABLE IF NOT EXISTS cancelled_rows (x int)")
    await own_db.execute("TRUNCATE cancelled_rows")

    async def work() -> None:
        async with own_db.transaction():
            await own_db.execute("INSERT INTO cancelled_rows VALUES (1)")
            await own_db.fetchval("SELECT pg_sleep(10)")

    task = asyncio.create_task(work())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await own_db.query_val("SELECT count(*) FROM cancelled_rows") == 0
    states = await own_db.query(
        "SELECT state FROM pg_stat_activity WHERE application_name = 'stellate:own' "
        "AND pid <> pg_backend_pid()"
    )
    assert {row["state"] for row in states} <= {"idle"}
    await own_db.execute("DROP TABLE cancelled_rows")


async def test_session_state_is_reset_only_when_set(test_url: str) -> None:
    db = Database(test_url, alias="reset", pool_size=1)
    await db.connect()
    try:
        await db.execute("SET application_name = 'changed'")
        # The SET was seen, so the release ran the full reset: the setting is back.
        assert await db.fetchval("SHOW application_name") == "stellate:reset"
        await db.execute("CREATE TEMP TABLE scratch (x int)")
        assert await db.fetchval("SELECT to_regclass('pg_temp.scratch')") is None
        async with db.connection() as raw:
            await raw.execute("SELECT set_config('search_path', 'pg_catalog', false)")
        assert await db.fetchval("SHOW search_path") == '"$user", public'
    finally:
        await db.close()


async def test_full_reset_mode_and_pgbouncer_mode(test_url: str) -> None:
    db = Database(test_url, alias="bouncer", pool_size=1, pgbouncer=True, reset="full")
    await db.connect()
    try:
        assert db.statement_cache_size == 0
        for _ in range(3):
            assert await db.fetchval("SELECT $1::int + 1", 1) == 2
        # No named prepared statement stays on the server connection.
        assert await db.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
    finally:
        await db.close()
    cached = Database(test_url, alias="cached", pool_size=1)
    await cached.connect()
    try:
        await cached.fetchval("SELECT $1::int + 1", 1)
        assert await cached.fetchval("SELECT count(*) FROM pg_prepared_statements") >= 1
    finally:
        await cached.close()


async def test_connections_older_than_max_lifetime_are_replaced(test_url: str) -> None:
    db = Database(test_url, alias="aging", pool_size=1, max_lifetime=0.2)
    await db.connect()
    try:
        first = await db.fetchval("SELECT pg_backend_pid()")
        assert await db.fetchval("SELECT pg_backend_pid()") == first
        await asyncio.sleep(0.3)
        assert await db.fetchval("SELECT pg_backend_pid()") != first
    finally:
        await db.close()


async def test_query_timeout_is_a_server_statement_timeout(test_url: str) -> None:
    import asyncpg

    db = Database(test_url, alias="slow", pool_size=1, query_timeout=0.1)
    await db.connect()
    try:
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await db.fetchval("SELECT pg_sleep(2)")
        assert await db.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_not_a_postgres_url_is_refused_early() -> None:
    with pytest.raises(DatabaseNotConfiguredError) as caught:
        Database("mysql://root:hunter2@localhost/app")
    message = str(caught.value)
    assert "is not a PostgreSQL URL" in message
    assert "hunter2" not in message
    assert "postgresql://user:password@host:5432/dbname" in message


async def test_unreachable_server_error_names_the_database_and_fix() -> None:
    db = Database(
        "postgresql://postgres:secret@127.0.0.1:1/nothing", alias="gone", connect_timeout=2
    )
    with pytest.raises(DatabaseConnectionError) as caught:
        await db.connect()
    message = str(caught.value)
    assert "Cannot connect database `gone`" in message
    assert "postgresql://postgres:***@127.0.0.1:1/nothing" in message
    assert "secret" not in message
    assert "is PostgreSQL running" in message


async def test_unknown_database_error_says_to_create_it(test_url: str) -> None:
    from stellate.orm.testing import database_url_with_name

    db = Database(database_url_with_name(test_url, "no_such_db_here"), alias="missing")
    with pytest.raises(DatabaseConnectionError, match="create it"):
        await db.connect()


async def test_query_on_an_unconnected_database_says_how_to_connect() -> None:
    db = Database("postgresql://postgres@127.0.0.1/x", alias="idle")
    with pytest.raises(DatabaseNotConnectedError, match="`idle` is not connected"):
        await db.fetchval("SELECT 1")


async def test_connect_without_url_needs_one_or_says_which_variable(test_url: str) -> None:
    db = Database(alias="later")
    with pytest.raises(DatabaseNotConfiguredError, match="STELLATE_DATABASE_URL"):
        await db.connect()
    db.url = test_url
    await db.connect()
    try:
        assert await db.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_connect_makes_a_default_and_restores_the_previous(
    database: Database, test_url: str
) -> None:
    async with connect(test_url, alias="scripts", pool_size=1) as scripts:
        assert get_db("scripts") is scripts
        assert get_db() is database
        name = urlsplit(test_url).path.lstrip("/")
        assert await scripts.query_val("SELECT current_database()") == name
    assert "scripts" not in active_databases()
    assert not scripts.is_connected


async def test_observers_see_every_statement(db: Database) -> None:
    events = []
    remove = db.add_observer(events.append)
    await db.fetchval("SELECT $1::int", 5)
    async with db.transaction():
        await db.execute("SELECT 2")
    remove()
    await db.fetchval("SELECT 3")
    assert [(e.sql, e.kind) for e in events] == [
        ("SELECT $1::int", "query"),
        ("SAVEPOINT", "transaction"),
        ("SELECT 2", "query"),
        ("RELEASE SAVEPOINT", "transaction"),
    ]
    assert events[0].args == (5,)
    assert events[0].alias == "default"


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("postgresql://u@h/d") == "postgresql://u@h/d"


class DbProbe(Model):
    class Meta:
        table = "orm_db_probes"

    id: int = Field(primary_key=True, auto=True)
    label: str = Field()


async def test_create_tables_runs_in_the_test_transaction(db: Database) -> None:
    await create_tables(DbProbe)
    await db.execute("INSERT INTO orm_db_probes (label) VALUES ('a'), ('b')")
    assert await db.query_val("SELECT count(*) FROM orm_db_probes") == 2


async def test_tables_from_create_tables_are_gone_in_the_next_test(db: Database) -> None:
    assert await db.query_val("SELECT to_regclass('orm_db_probes')") is None


async def test_assert_num_queries_passes_on_the_exact_count(
    db: Database, assert_num_queries: Any
) -> None:
    async with assert_num_queries(2) as seen:
        await db.fetchval("SELECT 1")
        async with db.transaction():  # savepoints are not counted by default
            await db.execute("SELECT 2")
    assert [event.sql for event in seen] == [
        "SELECT 1",
        "SAVEPOINT",
        "SELECT 2",
        "RELEASE SAVEPOINT",
    ]
    async with assert_num_queries(4, include_transaction_control=True), db.transaction():
        await db.execute("SELECT 3")
        await db.execute("SELECT 4")
    async with assert_num_queries(0):
        pass


async def test_assert_num_queries_fails_listing_the_sql(
    db: Database, assert_num_queries: Any
) -> None:
    async def two_queries() -> None:
        async with assert_num_queries(1):
            await db.fetchval("SELECT 'first'")
            await db.fetchval("SELECT $1::text", "second")

    with pytest.raises(QueryCountError) as caught:
        await two_queries()
    message = str(caught.value)
    assert message.startswith("Expected 1 query, 2 ran:")
    assert "1. [default] SELECT 'first'" in message
    assert "2. [default] SELECT $1::text  -- args ('second',)" in message


async def test_assert_num_queries_lets_errors_of_the_block_through(
    db: Database, assert_num_queries: Any
) -> None:
    async def failing() -> None:
        async with assert_num_queries(5):
            await db.fetchval("SELECT 1")
            raise LookupError("from the block")

    with pytest.raises(LookupError, match="from the block"):
        await failing()


async def test_the_test_database_is_fresh_and_named_for_the_run(database: Database) -> None:
    name = await database.query_val("SELECT current_database()")
    assert name.startswith("stellate_test_")
    assert database.url is not None
    assert urlsplit(database.url).path == f"/{name}"


async def test_a_transaction_left_open_by_raw_sql_is_rolled_back_on_release(
    test_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(test_url, alias="raw_begin", pool_size=1)
    await db.connect()
    try:
        await db.execute("CREATE TABLE IF NOT EXISTS raw_begin_rows (x int)")
        # BEGIN through execute() leaves the transaction open when the statement ends;
        # the release must not hand that open transaction to the next query.
        await db.execute("BEGIN; INSERT INTO raw_begin_rows VALUES (1)")
        assert await db.fetchval("SELECT count(*) FROM raw_begin_rows") == 0
        assert "Resetting connection with an active transaction" in caplog.text
    finally:
        await db.execute("DROP TABLE IF EXISTS raw_begin_rows")
        await db.close()


MIGRATION = '''"""Create the shelf."""

from __future__ import annotations

from stellate.orm.migrations import operations as ops

dependencies = []

operations = [
    ops.RunSQL(
        sql="CREATE TABLE shelf (id int PRIMARY KEY)",
        reverse="DROP TABLE shelf",
    ),
]
'''


async def test_the_test_database_is_created_migrated_and_dropped(
    clean_env: pytest.MonkeyPatch, test_url: str, tmp_path: Path
) -> None:
    from stellate.orm.testing import temporary_database

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_shelf.py").write_text(MIGRATION)
    clean_env.setenv("STELLATE_MIGRATIONS_DIR", str(folder))
    server = test_url  # any database of the server works for CREATE DATABASE
    before = active_databases()
    async with temporary_database(server) as scratch:
        name = await scratch.query_val("SELECT current_database()")
        assert name.startswith("stellate_test_")
        assert get_db() is scratch
        assert await scratch.query_val("SELECT to_regclass('shelf')::text") == "shelf"
    assert active_databases() == before
    async with connect(test_url) as check:
        assert not await check.query_val(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name
        )


async def test_an_unreachable_test_server_is_a_usage_error(clean_env: pytest.MonkeyPatch) -> None:
    from stellate.orm.testing import temporary_database

    async def open_it() -> None:
        async with temporary_database("postgresql://postgres@127.0.0.1:1/x"):
            pass

    with pytest.raises(pytest.UsageError, match="fix STELLATE_TEST_DATABASE_URL"):
        await open_it()


async def test_connections_are_replaced_after_max_queries(test_url: str) -> None:
    db = Database(test_url, alias="rotating", pool_size=1, max_queries=2)
    await db.connect()
    try:
        pids = [await db.fetchval("SELECT pg_backend_pid()") for _ in range(4)]
        assert pids[0] == pids[1]
        assert pids[2] == pids[3]
        assert pids[1] != pids[2]
    finally:
        await db.close()


async def test_command_timeout_is_client_side_and_leaves_the_pool_usable(test_url: str) -> None:
    db = Database(test_url, alias="impatient", pool_size=1, command_timeout=0.1)
    await db.connect()
    try:
        with pytest.raises(TimeoutError):
            await db.fetchval("SELECT pg_sleep(2)")
        assert await db.fetchval("SELECT 'still fine'") == "still fine"
        assert db.pool_status()["in_use"] == 0
    finally:
        await db.close()


def test_an_unknown_reset_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="reset=`sometimes` is not valid: use `auto` or `full`"):
        Database("postgresql://h/db", reset="sometimes")  # type: ignore[arg-type]


async def test_close_terminates_connections_still_in_use_after_the_timeout(
    test_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(test_url, alias="stuck", pool_size=1)
    await db.connect()
    holding = asyncio.Event()

    async def stuck_request() -> None:
        async with db.transaction():
            holding.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(stuck_request())
    await holding.wait()
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="stellate.orm"):
        await db.close(grace_period=0.2)
    assert time.perf_counter() - started < 2
    assert not db.is_connected
    assert "Database `stuck`: 1 connection(s) still in use" in caplog.text
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # the transaction's exit copes with its terminated connection


async def test_get_db_without_any_database_says_how_to_get_one(outside_tests: None) -> None:
    with pytest.raises(DatabaseNotConfiguredError) as caught:
        get_db()
    message = str(caught.value)
    assert message.startswith("No database is configured")
    assert 'App(plugins=["orm"])' in message
    assert "stellate.orm.connect(url)" in message
    # A model without Meta.database asks for alias None, meaning `default`.
    with pytest.raises(DatabaseNotConfiguredError, match="No database is configured"):
        get_db(None)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", False),
        ("UPDATE t SET x = 1", False),
        ("SET LOCAL statement_timeout = 5", False),
        ("SELECT pg_advisory_xact_lock(1)", False),
        ("SET search_path = x", True),
        ("set application_name to 'a'", True),
        ("-- why\nSET work_mem = '64MB'", True),
        ("/* tuned */ RESET ALL", True),
        ("SELECT 1; LISTEN jobs", True),
        ("SELECT pg_advisory_lock(42)", True),
        ("SELECT pg_try_advisory_lock_shared(42)", True),
        ("SELECT set_config('search_path', 'x', false)", True),
        ("CREATE TEMP TABLE scratch (x int)", True),
        ("create local temporary table scratch (x int)", True),
        ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", True),
        ("PREPARE q AS SELECT 1", True),
    ],
)
def test_session_state_detection(sql: str, expected: bool) -> None:
    from stellate.orm.pool import sets_session_state

    assert sets_session_state(sql) is expected


async def test_a_pool_used_from_another_event_loop_is_a_clear_error(own_db: Database) -> None:
    async def in_other_loop() -> object:
        return await own_db.fetchval("SELECT 1")

    with pytest.raises(DatabaseNotConnectedError, match="connected in another event loop"):
        await asyncio.to_thread(asyncio.run, in_other_loop())
    assert await own_db.fetchval("SELECT 1") == 1  # untouched in its own loop
