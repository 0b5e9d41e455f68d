"""The pool's synchronous acquire/release fast path keeps asyncpg's pool invariants."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from stellate.orm import Database


async def test_fast_path_serves_queries_and_returns_every_connection(own_db: Database) -> None:
    manager = own_db._state.manager
    connection = manager.try_acquire()
    assert connection is not None  # an idle connection exists: taken without awaiting
    assert own_db.pool_status()["in_use"] == 1
    assert await connection.fetchval("SELECT 41 + 1") == 42
    assert manager.try_release(connection)
    assert own_db.pool_status()["in_use"] == 0
    # The proxy is detached on release, as asyncpg's own release does.
    with pytest.raises(Exception, match="released back to the pool"):
        await connection.fetchval("SELECT 1")
    results = await asyncio.gather(*(own_db.fetchval("SELECT $1::int", i) for i in range(20)))
    assert results == list(range(20))
    assert own_db.pool_status()["in_use"] == 0


async def test_expired_connections_are_replaced_not_reused(own_db: Database) -> None:
    first = await own_db.fetchval("SELECT pg_backend_pid()")
    await own_db._state.manager.pool.expire_connections()
    # The holder of an older generation is skipped by the fast path and reconnected by
    # asyncpg's regular acquire.
    assert await own_db.fetchval("SELECT pg_backend_pid()") != first
    assert own_db.pool_status()["in_use"] == 0


async def test_a_connection_in_a_transaction_is_not_released_on_the_fast_path(
    own_db: Database,
) -> None:
    manager = own_db._state.manager
    connection = manager.try_acquire()
    assert connection is not None
    await connection.execute("BEGIN")
    assert not manager.try_release(connection)  # a rollback round trip is due
    assert own_db.pool_status()["in_use"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await manager.release(connection)
    assert own_db.pool_status()["in_use"] == 0
    again = manager.try_acquire()
    assert again is not None
    assert not again.is_in_transaction()  # the slow path rolled it back
    assert manager.try_release(again)


async def test_a_connection_with_session_state_takes_the_resetting_path(own_db: Database) -> None:
    manager = own_db._state.manager
    await own_db.execute("SET search_path = pg_catalog")
    assert await own_db.fetchval("SHOW search_path") == '"$user", public'
    connection = manager.try_acquire()
    assert connection is not None
    state = connection.stellate_state
    await connection.execute("SET search_path = pg_catalog")  # behind the ORM's back
    state.full_reset = True
    assert not manager.try_release(connection)
    await manager.release(connection)
    assert not state.full_reset
    assert own_db.pool_status()["in_use"] == 0
    assert await own_db.fetchval("SHOW search_path") == '"$user", public'


async def test_no_fast_acquire_when_the_pool_is_exhausted(own_db: Database) -> None:
    manager = own_db._state.manager
    held = [await manager.acquire() for _ in range(own_db.pool_size)]
    try:
        assert manager.try_acquire() is None
    finally:
        for connection in held:
            assert manager.try_release(connection)
    assert own_db.pool_status()["in_use"] == 0


async def test_a_cancelled_fast_path_query_leaves_no_connection_checked_out(
    own_db: Database,
) -> None:
    task = asyncio.create_task(own_db.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.1)
    assert own_db.pool_status()["in_use"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert own_db.pool_status()["in_use"] == 0
    assert await own_db.fetchval("SELECT 'ok'") == "ok"


async def test_close_waits_for_a_fast_path_connection_then_closes(test_url: str) -> None:
    db = Database(test_url, alias="fastclose", pool_size=1)
    await db.connect()
    query = asyncio.create_task(db.fetchval("SELECT 3 FROM pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    await db.close(grace_period=5)  # Pool.close waits on the holder's in-use future
    assert await query == 3
    assert not db.is_connected


async def test_waiting_tasks_are_served_before_a_fast_acquire(test_url: str) -> None:
    db = Database(test_url, alias="fair", pool_size=1, acquire_timeout=2.0)
    await db.connect()
    try:
        manager = db._state.manager
        held = manager.try_acquire()
        assert held is not None
        waiter = asyncio.create_task(db.fetchval("SELECT 'waited'"))
        await asyncio.sleep(0.05)
        assert manager.waiting == 1
        assert manager.try_release(held)
        # The released connection belongs to the waiting task, not to a newcomer.
        assert manager.try_acquire() is None
        assert await waiter == "waited"
        assert db.pool_status()["in_use"] == 0
    finally:
        await db.close()


async def test_idle_connections_still_close_after_the_inactive_lifetime(test_url: str) -> None:
    db = Database(test_url, alias="idle", pool_size=2, min_size=0, max_inactive_lifetime=0.3)
    await db.connect()
    try:
        pool = db._state.manager.pool
        assert await db.fetchval("SELECT 4") == 4  # released on the fast path: timer armed
        # A query longer than the lifetime: the timer fires while the connection is in
        # use and must neither fail nor close it.
        assert await db.fetchval("SELECT 5 FROM pg_sleep(0.4)") == 5
        assert pool.get_size() == 1
        await asyncio.sleep(0.15)
        assert await db.fetchval("SELECT 6") == 6  # used again: the idle clock restarts
        await asyncio.sleep(0.2)
        assert pool.get_size() == 1  # idle 0.2s < 0.3s
        await asyncio.sleep(0.45)
        assert pool.get_size() == 0  # idle past the lifetime: closed
        assert await db.fetchval("SELECT 7") == 7  # and reopened on demand
    finally:
        await db.close()


async def test_the_regular_release_after_a_fast_acquire_keeps_one_timer(own_db: Database) -> None:
    manager = own_db._state.manager
    assert await own_db.fetchval("SELECT 1") == 1  # arms the fast path's timer
    connection = manager.try_acquire()
    assert connection is not None
    # The regular (shielded) path, as taken after a failed statement: asyncpg arms its
    # own timer there and must not find ours in the way.
    await manager.release(connection)
    assert own_db.pool_status()["in_use"] == 0
    assert await own_db.fetchval("SELECT 2") == 2


async def test_checkout_hands_out_the_connection_with_its_proxy_attached(
    own_db: Database,
) -> None:
    manager = own_db._state.manager
    connection = manager.checkout()
    assert connection is not None
    assert type(connection).__name__ == "StellateConnection"
    proxy = connection._proxy  # attached, as asyncpg expects of a pooled connection in use
    assert proxy is not None
    assert proxy._con is connection
    assert own_db.pool_status()["in_use"] == 1
    assert await connection.fetchval("SELECT 6 * 7") == 42
    assert manager.try_release(connection)
    assert connection._proxy is None
    assert proxy._con is None
    assert own_db.pool_status()["in_use"] == 0
    # The shielded path takes it too, e.g. after a failed statement.
    again = manager.checkout()
    assert again is not None
    await again.execute("BEGIN")
    assert not manager.try_release(again)  # a rollback round trip is due
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await manager.release(again)
    assert own_db.pool_status()["in_use"] == 0
    assert not again.is_in_transaction()
    await manager.release(again)  # released already: nothing to give back
    assert own_db.pool_status()["in_use"] == 0
