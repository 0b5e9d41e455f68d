"""``iterator(server_side=True)``: a real DECLARE CURSOR, fetched in chunks."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from stellate.orm import (
    Database,
    F,
    Field,
    MissingTableError,
    Model,
    QueryValueError,
    Value,
)
from stellate.orm.testing import assert_num_queries, create_tables


class Row(Model):
    class Meta:
        table = "cursor_rows"

    id: int = Field(primary_key=True, auto=True)
    n: int = Field()


class Nowhere(Model):
    class Meta:
        table = "cursor_no_such_table"

    id: int = Field(primary_key=True, auto=True)


@pytest.fixture
async def rows(db: Any) -> None:
    await create_tables(Row)
    await Row.objects.bulk_create([Row(n=i) for i in range(25)])


async def open_cursors(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM pg_cursors WHERE name LIKE 'stellate%'"))


async def test_rows_come_in_chunks_of_one_fetch_each(rows: None, db: Database) -> None:
    seen: list[int] = []
    async with assert_num_queries(5) as events:  # DECLARE, 3 x FETCH 10, CLOSE
        async for row in (
            Row.objects.filter(n__gte=0).order_by("n").iterator(server_side=True, chunk_size=10)
        ):
            seen.append(row.n)
            if len(seen) == 10:
                # Only the first chunk has been read from the server so far.
                assert sum(e.sql.startswith("FETCH") for e in events) == 1
    assert seen == list(range(25))
    statements = [e.sql.split(" ")[0] for e in events]
    assert statements == ["DECLARE", "FETCH", "FETCH", "FETCH", "CLOSE"]
    assert events[0].sql.endswith('ORDER BY "cursor_rows"."n" ASC')
    assert events[0].args == (0,)
    assert await open_cursors(db) == 0


async def test_values_queries_stream_too(rows: None) -> None:
    names = [
        row
        async for row in Row.objects.order_by("-n")
        .values("n")
        .iterator(server_side=True, chunk_size=7)
    ]
    assert names[:2] == [{"n": 24}, {"n": 23}]
    assert len(names) == 25


async def test_breaking_out_closes_the_cursor(rows: None, db: Database) -> None:
    async with contextlib.aclosing(
        Row.objects.order_by("n").iterator(server_side=True, chunk_size=5)
    ) as stream:
        async for row in stream:
            assert await open_cursors(db) == 1
            if row.n == 2:
                break
    assert await open_cursors(db) == 0
    # After a plain `break` inside a transaction the cursor ends with the transaction
    # (the iterator is finalised by another task, which must not share the connection).
    async for row in Row.objects.order_by("n").iterator(server_side=True, chunk_size=5):
        if row.n == 0:
            break
    for _ in range(5):
        await asyncio.sleep(0)
    assert await open_cursors(db) == 1


async def test_a_cursor_outliving_its_transaction_closes_quietly(rows: None, db: Database) -> None:
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        async with db.transaction():
            async for row in Row.objects.iterator(server_side=True, chunk_size=5):
                if row.n == 1:
                    break
        for _ in range(5):
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert errors == []
    assert await open_cursors(db) == 1  # a released savepoint's cursor lives on
    assert await Row.objects.count() == 25  # and the transaction stays usable


async def test_without_a_transaction_it_opens_its_own(database: Database, own_db: Database) -> None:
    await create_tables(Row)  # committed: `db` is not used here
    try:
        await Row.objects.bulk_create([Row(n=i) for i in range(6)])
        watch = (
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'FETCH % FROM stellate_cursor_%' AND pid <> pg_backend_pid()"
        )
        seen = []
        async for row in Row.objects.order_by("n").iterator(server_side=True, chunk_size=4):
            seen.append(row.n)
            # The cursor's connection waits inside its transaction between chunks ...
            if row.n < 4:  # the last, short chunk closes the cursor as soon as it is read
                assert await own_db.fetchval(watch) == "idle in transaction"
            # ... while other queries of the loop body run on other connections.
            assert await Row.objects.count() == 6
        assert seen == list(range(6))
        assert not database.in_transaction
        assert await own_db.fetchval(watch) in (None, "idle")
        # Left early, its own transaction ends once the loop's iterator is collected.
        async for row in Row.objects.order_by("n").iterator(server_side=True, chunk_size=2):
            assert row.n == 0
            assert await own_db.fetchval(watch) == "idle in transaction"
            break
        # The finaliser runs CLOSE and COMMIT in a task of its own: give it the time.
        for _ in range(200):
            if await own_db.fetchval(watch) in (None, "idle"):
                break
            await asyncio.sleep(0.01)
        assert await own_db.fetchval(watch) in (None, "idle")
    finally:
        await database.execute("DROP TABLE cursor_rows")


async def test_a_row_failing_mid_stream_ends_its_own_transaction(database: Database) -> None:
    await create_tables(Row)  # committed: `db` is not used here
    try:
        await Row.objects.bulk_create([Row(n=i) for i in (5, 4, 3, 2, 1, 0)])
        before = database.pool_status()
        seen = []
        # No ORDER BY: a sequential scan computes each row when its FETCH reads it.
        qs = Row.objects.annotate(inverse=Value(60) / F("n"))

        async def consume() -> None:
            async for row in qs.iterator(server_side=True, chunk_size=2):
                seen.append(row.n)

        with pytest.raises(QueryValueError, match="division by zero"):
            await consume()
        assert seen == [5, 4, 3, 2]  # the third FETCH (n=1, n=0) failed
        assert database.pool_status() == before
        assert await Row.objects.count() == 6  # the pool's connections are usable
    finally:
        await database.execute("DROP TABLE cursor_rows")


async def test_prefetch_is_refused_rather_than_ignored(rows: None) -> None:
    with pytest.raises(ValueError, match="does not run prefetch_related"):
        async for _ in Row.objects.prefetch_related("x").iterator(server_side=True):
            pass


async def test_errors_are_translated_and_release_the_connection(database: Database) -> None:
    before = database.pool_status()
    with pytest.raises(MissingTableError, match="cursor_no_such_table"):
        async for _ in Nowhere.objects.iterator(server_side=True):
            pass
    assert database.pool_status() == before
    assert not database.in_transaction
