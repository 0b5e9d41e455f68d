"""Transactions: one connection bound to a contextvar, savepoints when nested, on_commit.

Inside ``async with db.transaction():`` every query issued through the Database (and
so through the ORM) in the same task, and in tasks it starts, runs on the
transaction's connection; code never passes connections around. One connection runs
one statement at a time, so two tasks using it at once get
:class:`ConcurrentTransactionUseError` instead of asyncpg's terse "another operation
is in progress".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from stellate.orm.pool import changes_schema

if TYPE_CHECKING:
    from types import TracebackType

    from stellate.orm.database import Database

__all__ = [
    "ConcurrentTransactionUseError",
    "IsolationLevel",
    "OnCommitCallback",
    "Transaction",
    "TransactionClosedError",
    "run_callbacks",
]

logger = logging.getLogger("stellate.orm")

IsolationLevel = Literal["read_committed", "repeatable_read", "serializable"]
OnCommitCallback = Callable[[], "Awaitable[Any] | Any"]


class ConcurrentTransactionUseError(RuntimeError):
    """Two tasks tried to use one transaction's connection at the same time."""


class TransactionClosedError(RuntimeError):
    """A query was issued through a transaction that has already finished."""


class _Binding:
    """The connection of an outermost transaction, shared with its savepoints."""

    __slots__ = (
        "busy_sql",
        "busy_task",
        "connection",
        "idle_waiters",
        "owns_connection",
        "schema_changed",
        "track_schema",
    )

    def __init__(self, connection: Any, *, owns_connection: bool) -> None:
        self.connection = connection
        self.owns_connection = owns_connection
        self.busy_sql: str | None = None
        self.busy_task: asyncio.Task[Any] | None = None
        self.idle_waiters: list[asyncio.Future[None]] = []
        # Set for pinned (test) transactions: DDL rolled back with them leaves asyncpg's
        # statement cache describing tables that no longer exist in that shape.
        self.track_schema = False
        self.schema_changed = False

    def set_idle(self) -> None:
        self.busy_sql = None
        self.busy_task = None
        waiters, self.idle_waiters = self.idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Transaction:
    """A database transaction (a savepoint when another one is open); use ``async with``.

    Create one with :meth:`Database.transaction() <stellate.orm.Database.transaction>`
    or :func:`stellate.orm.transaction`. Leaving the block normally commits (or
    releases the savepoint); leaving it with an exception rolls back and re-raises.

    Example:
        ```python
        async with db.transaction():
            await Account.objects.filter(id=1).update(balance=F("balance") - 10)
            async with db.transaction():  # a savepoint
                await Account.objects.filter(id=2).update(balance=F("balance") + 10)
            db.on_commit(lambda: print("money moved"))
        ```
    """

    __slots__ = (
        "_asyncpg_tx",
        "_binding",
        "_callbacks",
        "_db",
        "_deferrable",
        "_isolation",
        "_parent",
        "_readonly",
        "_state",
        "_token",
    )

    def __init__(
        self,
        db: Database,
        *,
        isolation: IsolationLevel | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> None:
        self._db = db
        self._isolation = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._parent: Transaction | None = None
        self._binding: _Binding | None = None
        self._asyncpg_tx: Any = None
        self._callbacks: list[OnCommitCallback] = []
        self._token: Any = None
        self._state: Literal["new", "open", "committed", "rolled_back"] = "new"

    # -- public API ----------------------------------------------------------------

    @property
    def connection(self) -> Any:
        """The asyncpg connection this transaction runs on (for asyncpg-only features)."""
        return self._open_binding().connection

    @property
    def is_savepoint(self) -> bool:
        """Whether this transaction is nested in another one (and so a savepoint)."""
        return self._parent is not None

    @property
    def state(self) -> Literal["new", "open", "committed", "rolled_back"]:
        """``new``, ``open``, ``committed`` or ``rolled_back``."""
        return self._state

    def on_commit(self, callback: OnCommitCallback) -> None:
        """Run ``callback`` (sync or async) after the outermost transaction commits.

        Callbacks of a savepoint that rolls back are dropped with it; so are all
        callbacks when the outermost transaction rolls back.
        """
        if self._state != "open":
            raise TransactionClosedError(
                f"on_commit() was called on a transaction of database `{self._db.alias}` "
                f"that is {self._state.replace('_', ' ')}: register callbacks inside the "
                "`async with db.transaction():` block"
            )
        self._callbacks.append(callback)

    async def __aenter__(self) -> Transaction:
        await self.start(bind=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        callbacks = await self.finish(commit=exc_type is None)
        await run_callbacks(callbacks)

    # -- used by Database ------------------------------------------------------------

    async def start(self, *, bind: bool, track_schema: bool = False) -> None:
        """Begin (or create the savepoint) and, with ``bind``, make it current.

        ``track_schema`` (for pinned test transactions) clears the connection's
        prepared-statement cache at the end when DDL ran in the transaction.
        """
        if self._state != "new":
            raise TransactionClosedError(
                f"This transaction of database `{self._db.alias}` was already used: "
                "create a new one with `db.transaction()` for each block"
            )
        state = self._db._state
        parent = state.current()
        if parent is not None:
            self._parent = parent
            self._binding = parent._open_binding()
        else:
            connection = await state.manager.acquire()
            self._binding = _Binding(connection, owns_connection=True)
            self._binding.track_schema = track_schema
        isolation = self._isolation
        self._asyncpg_tx = self._binding.connection.transaction(
            isolation=isolation,
            readonly=self._readonly,
            deferrable=self._deferrable,
        )
        try:
            await self._run_control("SAVEPOINT" if parent else "BEGIN", self._asyncpg_tx.start)
        except BaseException:
            if parent is None:
                await self._release(broken=True)
            raise
        self._state = "open"
        if bind:
            self._token = state.tx_var.set(self)

    async def finish(self, *, commit: bool) -> list[OnCommitCallback]:
        """Commit or roll back; return the callbacks to run now (outermost commit only)."""
        binding = self._open_binding()
        if self._token is not None:
            # Left in another context than entered (an async generator finalised
            # elsewhere) the reset fails, and the variable dies with that context anyway.
            with contextlib.suppress(ValueError):
                self._db._state.tx_var.reset(self._token)
            self._token = None
        outermost = self._parent is None
        broken = False
        try:
            if commit:
                name = "COMMIT" if outermost else "RELEASE SAVEPOINT"
                await self._run_control(name, self._asyncpg_tx.commit)
            else:
                name = "ROLLBACK" if outermost else "ROLLBACK TO SAVEPOINT"
                await self._run_control(name, self._asyncpg_tx.rollback)
        except Exception as exc:
            # A failed COMMIT/ROLLBACK (a dropped connection, a cancelled statement) leaves
            # the connection in an unknown state: it must never go back to the pool as is.
            broken = True
            if commit:
                commit = False
                raise
            # Rolling back because of an error: that error is the one to see, not this.
            logger.warning(
                "ROLLBACK on database `%s` failed (%s: %s); the connection was discarded",
                self._db.alias,
                type(exc).__name__,
                exc,
            )
        except BaseException:
            broken = True
            commit = False
            raise
        finally:
            self._state = "committed" if commit else "rolled_back"
            if outermost and binding.owns_connection:
                await self._release(broken=broken)
        if not commit:
            return []
        if self._parent is not None:
            self._parent._callbacks.extend(self._callbacks)
            return []
        return self._callbacks

    def enter(self, sql: str) -> Any:
        """Mark the connection busy with ``sql`` and return it; pair with :meth:`leave`."""
        binding = self._binding
        if self._state != "open" or binding is None:
            raise self._closed_error(sql)
        if binding.busy_sql is not None:
            raise self._busy_error(sql, binding)
        binding.busy_sql = sql
        binding.busy_task = asyncio.current_task()
        if binding.track_schema and changes_schema(sql):
            binding.schema_changed = True
        return binding.connection

    async def wait_idle(self) -> Transaction:
        """Wait until no statement runs on the connection; return this transaction.

        Used for the pinned (test) transaction only: in production concurrent queries
        outside a transaction get their own connections, so under test they take turns
        on the one connection instead of failing.
        """
        binding = self._binding
        while binding is not None and binding.busy_sql is not None:
            if binding.busy_task is asyncio.current_task():
                break  # enter() reports it
            waiter = asyncio.get_running_loop().create_future()
            binding.idle_waiters.append(waiter)
            await waiter
        return self

    def leave(self) -> None:
        binding = self._binding
        if binding is not None:
            binding.set_idle()

    # -- helpers ---------------------------------------------------------------------

    def _open_binding(self) -> _Binding:
        if self._state != "open" or self._binding is None:
            raise self._closed_error(None)
        return self._binding

    async def _run_control(self, name: str, action: Callable[[], Awaitable[Any]]) -> None:
        binding = self._binding
        if binding is None:  # pragma: no cover - start() sets it before any control
            raise RuntimeError("transaction has no connection")
        current = asyncio.current_task()
        while binding.busy_sql is not None:
            if binding.busy_task is current:
                raise self._busy_error(name, binding)
            # Another task's statement is in flight (asyncio.gather raised early and left
            # it running): COMMIT/ROLLBACK waits for it rather than fail the block's exit.
            waiter = asyncio.get_running_loop().create_future()
            binding.idle_waiters.append(waiter)
            await waiter
        self._db._state.notify(name, (), "transaction")
        binding.busy_sql = name
        binding.busy_task = current
        try:
            await action()
        finally:
            binding.set_idle()

    async def _release(self, *, broken: bool) -> None:
        binding = self._binding
        if binding is None or not binding.owns_connection:
            return
        connection = binding.connection
        try:
            closed = connection.is_closed()
        except asyncpg.InterfaceError:
            # Detached already: its pool was terminated under it (close() timed out).
            return
        if broken and not closed:
            connection.terminate()
        elif binding.schema_changed and not closed:
            # The next test may create a same-named table with other columns: a cached
            # statement would then fail with InvalidCachedStatementError inside its
            # transaction, where asyncpg cannot retry it.
            await connection.reload_schema_state()
        await self._db._state.manager.release(connection)

    def _closed_error(self, sql: str | None) -> TransactionClosedError:
        what = f"`{_short(sql)}`" if sql else "a query"
        return TransactionClosedError(
            f"Cannot run {what}: the transaction of database `{self._db.alias}` it belongs "
            f"to is {self._state.replace('_', ' ')}. A task started inside "
            "`async with db.transaction():` outlived the block: await it inside the block, "
            "or start it outside"
        )

    def _busy_error(self, sql: str, binding: _Binding) -> ConcurrentTransactionUseError:
        current = asyncio.current_task()
        other = binding.busy_task
        who = (
            "this same task" if other is current else f"task `{other.get_name() if other else '?'}`"
        )
        return ConcurrentTransactionUseError(
            f"Cannot run `{_short(sql)}` on the transaction connection of database "
            f"`{self._db.alias}`: {who} is running `{_short(binding.busy_sql)}` on it. A "
            "transaction has one connection, which runs one statement at a time: await the "
            "queries one after another inside the transaction (no asyncio.gather), or run "
            "the concurrent queries outside it, where each gets its own connection"
        )


async def run_callbacks(callbacks: list[OnCommitCallback]) -> None:
    """Run on_commit callbacks in order; one that fails is logged and the rest still run.

    The transaction is already committed when they run, so an error cannot undo it and
    must not stop the callbacks after it.
    """
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_commit callback %r failed", callback)


def _short(sql: str | None, limit: int = 80) -> str:
    text = " ".join((sql or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
