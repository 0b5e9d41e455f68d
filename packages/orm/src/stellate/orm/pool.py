"""The asyncpg pool under a :class:`~stellate.orm.database.Database`.

What this module adds to asyncpg's pool:

- a bounded acquire wait whose error names the pool size and the waiting tasks;
- a cheaper reset on release: asyncpg's default sends ``pg_advisory_unlock_all();
  CLOSE ALL; UNLISTEN *; RESET ALL`` after every pooled query (~0.2 ms each). In
  ``"auto"`` mode that round trip is sent only when the connection may carry session
  state: it ran a statement that sets some (``SET``, ``LISTEN``, session advisory
  locks, temporary tables...) or it was handed out raw through ``Database.connection()``.
  An open transaction is always rolled back (asyncpg does that before our hook runs);
- a maximum connection lifetime (asyncpg only has an idle lifetime).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("stellate.orm")

# The lean acquire and release below rely on asyncpg internals (0.30-0.32): use them
# only when those look as expected, else every query takes the public, shielded path.
_HOLDER = asyncpg.pool.PoolConnectionHolder
# Not isinstance(): asyncpg makes a proxy an instance of Connection.
_PROXY = asyncpg.pool.PoolConnectionProxy
_DIRECT_RELEASE = (
    {"_con", "_holder"} <= set(getattr(asyncpg.pool.PoolConnectionProxy, "__slots__", ()))
    and {
        "_con",
        "_pool",
        "_proxy",
        "_in_use",
        "_timeout",
        "_generation",
        "_setup",
        "_max_queries",
        "_inactive_callback",
        "_max_inactive_time",
    }
    <= set(getattr(_HOLDER, "__slots__", ()))
    and all(
        callable(getattr(_HOLDER, name, None))
        for name in (
            "release",
            "_release",
            "_maybe_cancel_inactive_callback",
            "_setup_inactive_callback",
            "is_connected",
            "_deactivate_inactive_connection",
        )
    )
    and {"_pool_release_ctr", "_listeners", "_log_listeners", "_top_xact", "_protocol", "_proxy"}
    <= set(getattr(asyncpg.Connection, "__slots__", ()))
    and hasattr(asyncpg.Connection, "_on_release")
)

__all__ = [
    "ConnectionState",
    "DatabaseNotConnectedError",
    "PoolManager",
    "PoolTimeoutError",
    "ResetMode",
    "StellateConnection",
    "changes_schema",
    "sets_session_state",
]

ResetMode = Literal["auto", "full"]

# Statements whose effect outlives the statement and its transaction. A false positive
# only costs one reset round trip; SET LOCAL ends with its transaction, so it is fine.
_LEADING = r"(?:^|;)\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*"
_SESSION_STATE = re.compile(
    _LEADING + r"(?:set\b(?!\s+local\b)|reset\b|listen\b|declare\b|prepare\b|load\b"
    r"|discard\b)"
    r"|pg_(?:try_)?advisory_lock"
    r"|set_config\s*\("
    r"|create\s+(?:(?:global|local)\s+)?temp(?:orary)?\b",
    re.IGNORECASE | re.DOTALL,
)


@functools.lru_cache(maxsize=4096)
def sets_session_state(sql: str) -> bool:
    """Whether ``sql`` may leave session state behind on its connection.

    Cached per SQL string: the ORM sends the same few hundred shapes again and again.
    """
    return _SESSION_STATE.search(sql) is not None


_SCHEMA_CHANGE = re.compile(
    _LEADING + r"(?:create|alter|drop|comment)\b", re.IGNORECASE | re.DOTALL
)


@functools.lru_cache(maxsize=4096)
def changes_schema(sql: str) -> bool:
    """Whether ``sql`` is DDL, after which cached prepared statements may be stale."""
    return _SCHEMA_CHANGE.search(sql) is not None


def _idle_timer(holder: Any) -> None:
    """The inactivity timer of a connection released by :meth:`PoolManager.try_release`.

    asyncpg cancels its timer on every acquire and arms a new one on every release
    (~1.5 µs a query, and a heap of cancelled timers). The fast path leaves one timer
    armed across uses instead; when it fires it re-arms itself while the connection is
    in use or was used within the inactivity lifetime, and otherwise lets asyncpg
    close the connection as its own timer would.
    """
    holder._inactive_callback = None
    con = holder._con
    lifetime = holder._max_inactive_time
    if con is None or not lifetime:
        return
    pool = holder._pool
    if holder._in_use is not None:
        holder._inactive_callback = pool._loop.call_later(lifetime, _idle_timer, holder)
        return
    idle = time.monotonic() - con.stellate_state.released_at
    if idle < lifetime:
        holder._inactive_callback = pool._loop.call_later(lifetime - idle, _idle_timer, holder)
        return
    holder._deactivate_inactive_connection()


class PoolTimeoutError(TimeoutError):
    """No pooled connection became free within the acquire timeout."""


class DatabaseNotConnectedError(RuntimeError):
    """A query was sent to a Database whose pool is not open."""


class ConnectionState:
    """What Stellate tracks per connection: its birth time and whether it needs a reset."""

    __slots__ = ("born", "full_reset", "released_at")

    def __init__(self) -> None:
        self.born = time.monotonic()
        self.full_reset = False
        self.released_at = self.born


class StellateConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection carrying a :class:`ConnectionState`.

    Pooled connections reach users wrapped in asyncpg's proxy, which forwards attribute
    reads but not writes, hence one mutable state object rather than plain attributes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stellate_state = ConnectionState()


class PoolManager:
    """Owns one asyncpg pool: opening, acquiring with a bounded wait, releasing, closing."""

    __slots__ = (
        "_acquire_timeout",
        "_alias",
        "_max_lifetime",
        "_reset_mode",
        "max_size",
        "pool",
        "waiting",
    )

    def __init__(
        self,
        *,
        alias: str,
        max_size: int,
        acquire_timeout: float | None,
        max_lifetime: float | None,
        reset_mode: ResetMode,
    ) -> None:
        self._alias = alias
        self.max_size = max_size
        self._acquire_timeout = acquire_timeout
        self._max_lifetime = max_lifetime
        self._reset_mode = reset_mode
        self.pool: Any = None
        self.waiting = 0

    async def open(
        self,
        dsn: str,
        *,
        min_size: int,
        statement_cache_size: int,
        max_queries: int,
        max_inactive_lifetime: float,
        connect_timeout: float,
        command_timeout: float | None,
        server_settings: Mapping[str, str],
    ) -> None:
        self.pool = await asyncpg.create_pool(
            dsn,
            min_size=min(min_size, self.max_size),
            max_size=self.max_size,
            max_queries=max_queries,
            max_inactive_connection_lifetime=max_inactive_lifetime,
            statement_cache_size=statement_cache_size,
            timeout=connect_timeout,
            command_timeout=command_timeout,
            server_settings=dict(server_settings) or None,
            connection_class=StellateConnection,
            reset=self._reset,
        )

    async def close(self, grace_period: float | None) -> None:
        """Close the pool once every connection is back; terminate it after ``grace_period``."""
        pool = self.pool
        if pool is None:
            return
        try:
            # asyncpg's close() waits for every connection to come back, forever; a
            # request stuck in a transaction must not hang the shutdown.
            closing = asyncio.ensure_future(pool.close())
            done, _ = await asyncio.wait({closing}, timeout=grace_period)
            if done:
                closing.result()
                return
            in_use = pool.get_size() - pool.get_idle_size()
            pool.terminate()
            logger.warning(
                "Database `%s`: %d connection(s) still in use %gs after close() began; "
                "terminated them",
                self._alias,
                in_use,
                grace_period,
            )
            with contextlib.suppress(Exception):
                await closing
        finally:
            self.pool = None

    async def acquire(self) -> Any:
        """A connection from the pool, waiting at most the acquire timeout."""
        pool = self.pool
        if pool is None:
            raise DatabaseNotConnectedError(
                f"Database `{self._alias}` is not connected: open it with `await db.connect()`, "
                "`async with stellate.orm.connect(url):`, or enable the `orm` plugin and run "
                "the app's startup"
            )
        if pool._loop is not asyncio.get_running_loop():
            # asyncpg would hang or corrupt the connection's protocol state instead.
            raise DatabaseNotConnectedError(
                f"Database `{self._alias}` was connected in another event loop than this "
                "one: a pool belongs to the loop that opened it. Open a Database inside "
                "each asyncio.run() (`async with stellate.orm.connect(url):`)"
            )
        if _DIRECT_RELEASE:
            connection = self.try_acquire()
            if connection is not None:
                return connection
        if pool.get_idle_size() and not self.waiting:
            # A connected idle connection is queued, so this returns without waiting;
            # skipping the timeout here saves asyncpg's wait_for task on the hot path.
            connection = await pool.acquire()
        else:
            self.waiting += 1
            try:
                connection = await pool.acquire(timeout=self._acquire_timeout)
            except TimeoutError:
                raise PoolTimeoutError(self._timeout_message()) from None
            finally:
                self.waiting -= 1
        if self._max_lifetime is not None and (
            time.monotonic() - connection.stellate_state.born > self._max_lifetime
        ):
            # Too old: close it (the pool opens a fresh one in its place) and take another.
            await connection.close()
            return await self.acquire()
        return connection

    def try_acquire(self) -> Any:
        """The most recently used idle connection, checked out without suspending.

        asyncpg's ``Pool.acquire`` goes through an acquire context, two coroutines and
        ``Queue.get`` (a tenth of a pooled one-row query here); this does the same
        bookkeeping on the holder (out of the queue, inactivity timer off, a proxy,
        the in-use future ``Pool.close`` waits for) synchronously, so no cancellation
        can land half way. Returns ``None`` whenever anything else is needed (no idle
        connection, a closed or foreign-loop pool, a reconnect after a close or
        ``expire_connections``, a ``setup`` hook, the maximum lifetime passed): the
        caller then awaits :meth:`acquire`, which handles those and the timeout.
        """
        con = self.checkout()
        return None if con is None else con._proxy

    def checkout(self) -> Any:
        """:meth:`try_acquire`, returning the connection itself rather than its proxy.

        For the queries :class:`~stellate.orm.database.Database` runs itself: the
        connection never leaves it, and calling it directly skips the proxy's
        forwarding wrapper (about a microsecond a query). The proxy is still attached,
        as asyncpg expects of a pooled connection in use (a stale statement cache is
        then dropped pool-wide). Give it back with :meth:`try_release` or
        :meth:`release`, which take either form.
        """
        pool = self.pool
        if not _DIRECT_RELEASE or pool is None or pool._closing:
            return None
        queue = pool._queue
        if queue is None or pool._loop is not asyncio.get_running_loop():
            return None
        holders = queue._queue
        if not holders or self.waiting:
            # Tasks already waiting go first: taking the connection a release just
            # queued for one of them would let a busy task starve the others.
            return None
        holder = holders[-1]
        con = holder._con
        if (
            con is None
            or con.is_closed()
            or holder._generation != pool._generation
            or holder._setup is not None
            or (
                self._max_lifetime is not None
                and time.monotonic() - con.stellate_state.born > self._max_lifetime
            )
        ):
            return None
        holders.pop()
        timer = holder._inactive_callback
        if timer is not None and getattr(timer, "_callback", None) is not _idle_timer:
            # asyncpg's own timer would fail on a connection in use; ours copes.
            holder._maybe_cancel_inactive_callback()
        # PoolConnectionProxy(holder, con) without its __init__ and _set_proxy frames:
        # on a shared machine each Python frame on this path costs microseconds.
        holder._proxy = con._proxy = proxy = _PROXY.__new__(_PROXY)
        proxy._con = con
        proxy._holder = holder
        holder._in_use = pool._loop.create_future()
        holder._timeout = None
        return con

    def in_running_loop(self) -> bool:
        """Whether the pool is open and belongs to the running event loop."""
        pool = self.pool
        return pool is not None and pool._loop is asyncio.get_running_loop()

    async def release(self, connection: Any) -> None:
        """Give ``connection`` back (shielded from cancellation; resets when needed).

        ``connection`` is a proxy, or a connection from :meth:`checkout`.
        """
        pool = self.pool
        if pool is None:
            # The pool was terminated under this connection (close() timed out): it is
            # closed already and there is nothing to give back.
            return
        if type(connection) is not _PROXY:  # a connection from checkout()
            connection = connection._proxy
            if connection is None:  # released already
                return
        holder = getattr(connection, "_holder", None)
        if _DIRECT_RELEASE and holder is not None and connection._con is not None:
            # asyncpg's release arms its own inactivity timer and fails if one is left.
            holder._maybe_cancel_inactive_callback()
        await pool.release(connection)

    def try_release(self, connection: Any) -> bool:
        """Release ``connection`` (a proxy, or a connection from :meth:`checkout`)
        synchronously when nothing needs a round trip.

        What ``PoolConnectionHolder.release`` would do for a clean connection
        (invalidate outside references, hand the holder back to the queue, re-arm
        the inactivity timer), minus its timeout context and reset coroutines.
        Returns ``False``, having changed nothing, when the connection needs the
        full path: a reset, a rollback, a pending cancellation, listeners to check,
        or replacement after ``max_queries`` or ``expire_connections``.
        """
        pool = self.pool
        if not _DIRECT_RELEASE or pool is None:
            return False
        if type(connection) is not _PROXY:  # a connection from checkout()
            con = connection
            proxy = con._proxy
            if proxy is None:
                return False
            holder = proxy._holder
        else:
            holder = connection._holder
            con = connection._con
        if (
            con is None
            or holder._pool is not pool
            or holder._in_use is None
            or self._reset_mode != "auto"
            or con.stellate_state.full_reset
            or con._listeners
            or con._log_listeners
            or con._top_xact is not None
            or con.is_closed()
        ):
            return False
        protocol = con._protocol
        if (
            protocol.is_in_transaction()
            or protocol._is_cancelling()
            or protocol.queries_count >= holder._max_queries
            or holder._generation != pool._generation
        ):
            return False
        con._pool_release_ctr += 1  # what Connection._on_release does besides checks
        holder._timeout = None
        # PoolConnectionHolder._release, inlined (its proxy detach and Queue.put_nowait
        # are five more frames): end the in-use future Pool.close waits on, detach the
        # proxy, queue the holder, waking a waiting acquire if there is one.
        in_use = holder._in_use
        holder._in_use = None
        if not in_use.done():
            in_use.set_result(None)
        proxy = holder._proxy
        if proxy is not None:
            holder._proxy = None
            proxy._con = None
            con._proxy = None
        queue = pool._queue
        if getattr(queue, "_getters", True):
            queue.put_nowait(holder)
        else:
            queue._queue.append(holder)  # LifoQueue._put; no acquire is waiting to wake
        lifetime = holder._max_inactive_time
        if lifetime:
            con.stellate_state.released_at = time.monotonic()
            if holder._inactive_callback is None:
                holder._inactive_callback = pool._loop.call_later(lifetime, _idle_timer, holder)
        return True

    def _timeout_message(self) -> str:
        pool = self.pool
        in_use = pool.get_size() - pool.get_idle_size()
        others = self.waiting - 1
        return (
            f"No connection of database `{self._alias}` became free within "
            f"{self._acquire_timeout:g}s: {in_use} of {self.max_size} connections are in use "
            f"and {others} other task{'s' if others != 1 else ''} "
            f"{'are' if others != 1 else 'is'} waiting. Raise STELLATE_POOL_SIZE, keep "
            "transactions short (no slow I/O inside `db.transaction()`), or raise "
            "STELLATE_POOL_ACQUIRE_TIMEOUT"
        )

    async def _reset(self, connection: Any) -> None:
        # asyncpg has already rolled back an open transaction (Connection._reset) before
        # calling this hook, so only session-level state is left to clear.
        state = connection.stellate_state
        if self._reset_mode == "full" or state.full_reset:
            # asyncpg's reset query leaves temporary tables behind; DISCARD TEMP drops
            # them (DISCARD ALL would also drop asyncpg's cached prepared statements).
            query = connection.get_reset_query() or ""
            await connection.execute(query + "DISCARD TEMP;")
            state.full_reset = False
