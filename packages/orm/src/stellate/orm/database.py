"""``Database``: an asyncpg pool with transactions bound to a contextvar; ``get_db``.

Outside a transaction each query acquires a pooled connection, runs as one round trip
(no BEGIN/ROLLBACK around a SELECT) and releases it, so ``asyncio.gather`` of queries
runs them on separate connections. Inside ``async with db.transaction():`` every query
of the task runs on the transaction's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

# get_db and friends live in _registry (no import of this module) and are re-exported
# here, where users and the ORM import them from.
from stellate.orm._registry import (
    DatabaseNotConfiguredError,
    activate,
    active_databases,
    get_db,
    on_commit,
    restore,
    testing_databases,
    transaction,
)
from stellate.orm._urls import check_url, describe_connect_error, mask_url
from stellate.orm.pool import PoolManager, ResetMode, sets_session_state
from stellate.orm.transactions import (
    IsolationLevel,
    OnCommitCallback,
    Transaction,
    run_callbacks,
)

if TYPE_CHECKING:
    from contextvars import ContextVar

__all__ = [
    "Database",
    "DatabaseConnectionError",
    "DatabaseNotConfiguredError",
    "QueryEvent",
    "QueryObserver",
    "activate",
    "active_databases",
    "check_url",
    "connect",
    "get_db",
    "mask_url",
    "on_commit",
    "restore",
    "testing_databases",
    "transaction",
]

QueryKind = Literal["query", "transaction"]


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """One statement sent through a :class:`Database`, as seen by query observers.

    Attributes:
        sql: the SQL text (``BEGIN``, ``SAVEPOINT``... for transaction control).
        args: the parameters (for ``executemany``, the sequence of argument tuples).
        alias: the alias of the database it ran on.
        kind: ``"query"``, or ``"transaction"`` for BEGIN/COMMIT/ROLLBACK/savepoints.
    """

    sql: str
    args: Sequence[Any]
    alias: str
    kind: QueryKind


QueryObserver = Callable[[QueryEvent], None]


class DatabaseConnectionError(ConnectionError):
    """The database could not be reached or refused the connection."""


class _SharedState:
    """State shared by every handle on one pool (see :meth:`Database.share`)."""

    __slots__ = ("alias", "auto_reset", "manager", "observers", "pending", "pinned", "tx_var")

    def __init__(self, alias: str, manager: PoolManager, auto_reset: bool) -> None:
        from contextvars import ContextVar

        self.alias = alias
        self.manager = manager
        self.auto_reset = auto_reset
        self.observers: list[QueryObserver] = []
        self.pinned: Transaction | None = None
        self.pending: set[asyncio.Task[Any]] = set()
        self.tx_var: ContextVar[Transaction | None] = ContextVar(
            f"stellate.orm.transaction:{alias}", default=None
        )

    def current(self) -> Transaction | None:
        return self.tx_var.get() or self.pinned

    def notify(self, sql: str, args: Sequence[Any], kind: QueryKind) -> None:
        if self.observers:
            event = QueryEvent(sql, args, self.alias, kind)
            for observer in tuple(self.observers):
                observer(event)


class Database:
    """A PostgreSQL database reached through an asyncpg connection pool.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` (``None`` until set, for
            the embedded server the orm plugin starts).
        alias: the name ``get_db(alias)`` and ``Meta.database`` use.
        pool_size: maximum connections; ``0`` means twice the CPU count.
        min_size: connections opened at connect time and kept while idle.
        statement_cache_size: prepared statements cached per connection (``0`` turns
            named prepared statements off).
        max_queries: queries after which a connection is replaced.
        max_lifetime: seconds after which a connection is replaced (``None``: never).
        max_inactive_lifetime: seconds an idle connection above ``min_size`` is kept.
        connect_timeout: seconds to establish a connection.
        query_timeout: server-side ``statement_timeout`` in seconds (``None``: none).
        command_timeout: client-side timeout of each statement in seconds (``None``: none).
        acquire_timeout: seconds to wait for a free pooled connection (``None``: forever).
        pgbouncer: behind PgBouncer in transaction mode: no named prepared statements and
            no startup parameters.
        reset: ``"auto"`` resets session state on release only when a connection may
            carry some; ``"full"`` always sends asyncpg's reset query.
        server_settings: extra PostgreSQL settings sent when connecting.

    Example:
        ```python
        db = Database("postgresql://postgres@127.0.0.1/app")
        await db.connect()
        total = await db.query_val("SELECT count(*) FROM books")
        await db.close()
        ```
    """

    __slots__ = ("__weakref__", "_options", "_state", "url")

    def __init__(
        self,
        url: str | None = None,
        *,
        alias: str = "default",
        pool_size: int = 0,
        min_size: int = 1,
        statement_cache_size: int = 256,
        max_queries: int = 10_000,
        max_lifetime: float | None = 3600.0,
        max_inactive_lifetime: float = 300.0,
        connect_timeout: float = 10.0,
        query_timeout: float | None = None,
        command_timeout: float | None = None,
        acquire_timeout: float | None = 10.0,
        pgbouncer: bool = False,
        reset: ResetMode = "auto",
        server_settings: Mapping[str, str] | None = None,
    ) -> None:
        if url is not None:
            check_url(url, source=f"the URL of database `{alias}`")
        if reset not in ("auto", "full"):
            raise ValueError(f"reset=`{reset}` is not valid: use `auto` or `full`")
        size = pool_size or (os.cpu_count() or 1) * 2
        self.url = url
        settings = dict(server_settings or {})
        if not pgbouncer:
            settings.setdefault("application_name", f"stellate:{alias}")
            if query_timeout:
                settings.setdefault("statement_timeout", str(round(query_timeout * 1000)))
        self._options: dict[str, Any] = {
            "min_size": min_size,
            "statement_cache_size": 0 if pgbouncer else statement_cache_size,
            "max_queries": max_queries,
            "max_inactive_lifetime": max_inactive_lifetime,
            "connect_timeout": connect_timeout,
            "command_timeout": command_timeout,
            "server_settings": settings,
        }
        manager = PoolManager(
            alias=alias,
            max_size=size,
            acquire_timeout=acquire_timeout,
            max_lifetime=max_lifetime or None,
            reset_mode=reset,
        )
        self._state = _SharedState(alias, manager, auto_reset=reset == "auto")

    def __repr__(self) -> str:
        url = mask_url(self.url) if self.url else "no URL"
        status = "connected" if self.is_connected else "not connected"
        return f"<Database `{self.alias}` {url} ({status})>"

    # -- lifecycle -------------------------------------------------------------------

    @property
    def alias(self) -> str:
        """The alias this database is registered under."""
        return self._state.alias

    @property
    def is_connected(self) -> bool:
        """Whether the pool is open."""
        return self._state.manager.pool is not None

    @property
    def pool_size(self) -> int:
        """The maximum number of pooled connections."""
        return self._state.manager.max_size

    @property
    def statement_cache_size(self) -> int:
        """Prepared statements cached per connection (``0`` when they are off)."""
        return int(self._options["statement_cache_size"])

    async def connect(self) -> None:
        """Open the pool (a no-op when it is open).

        Raises:
            DatabaseNotConfiguredError: no URL was given.
            DatabaseConnectionError: the server cannot be reached or refused the login.
        """
        if self.is_connected:
            return
        if not self.url:
            raise DatabaseNotConfiguredError(
                f"Database `{self.alias}` has no URL: set STELLATE_DATABASE_URL (or "
                "DATABASE_URL) to postgresql://user:password@host:5432/dbname"
            )
        try:
            await self._state.manager.open(self.url, **self._options)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise DatabaseConnectionError(
                f"Cannot connect database `{self.alias}` at `{mask_url(self.url)}`: "
                f"{describe_connect_error(exc)}"
            ) from exc

    async def close(self, *, grace_period: float | None = 10.0) -> None:
        """Wait for pending on_commit tasks, then close every pooled connection.

        Args:
            grace_period: seconds to wait for connections still in use to come back; after
                that they are terminated (and a warning logged). ``None`` waits forever.
        """
        state = self._state
        if state.pending:
            await asyncio.gather(*state.pending, return_exceptions=True)
        await state.manager.close(grace_period)

    def share(self, other: Database) -> None:
        """Make this handle use ``other``'s pool, transactions and observers.

        The orm plugin uses it in tests, so that ``app.db`` and ``get_db()`` reach the
        test database and its rolled-back transaction.
        """
        self._state = other._state
        self.url = other.url
        self._options = other._options

    # -- queries ---------------------------------------------------------------------
    #
    # fetch, fetchrow, fetchval and execute repeat one shape on purpose: observers, the
    # bound transaction (or the test's pinned one), then the synchronous pool fast path
    # with the regular acquire/release as fallback. Every ORM read runs through one of
    # them, and a shared helper taking the connection method would add a call and a
    # bound-method lookup per query; change all four together.

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Run ``sql`` with ``$1``-style ``args`` and return every row (asyncpg Records)."""
        state = self._state
        if state.observers:
            state.notify(sql, args, "query")
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(sql)
            try:
                if state.auto_reset and sets_session_state(sql):
                    connection.stellate_state.full_reset = True
                rows: list[Any] = await connection.fetch(sql, *args)
                return rows
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            if state.auto_reset and sets_session_state(sql):
                connection.stellate_state.full_reset = True
            rows = await connection.fetch(sql, *args)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """Run ``sql`` and return its first row, or ``None`` when there is none."""
        state = self._state
        if state.observers:
            state.notify(sql, args, "query")
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(sql)
            try:
                if state.auto_reset and sets_session_state(sql):
                    connection.stellate_state.full_reset = True
                return await connection.fetchrow(sql, *args)
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            if state.auto_reset and sets_session_state(sql):
                connection.stellate_state.full_reset = True
            result = await connection.fetchrow(sql, *args)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)
        return result

    async def fetchval(self, sql: str, *args: Any, column: int = 0) -> Any:
        """Run ``sql`` and return one value of its first row (``None`` without rows)."""
        state = self._state
        if state.observers:
            state.notify(sql, args, "query")
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(sql)
            try:
                if state.auto_reset and sets_session_state(sql):
                    connection.stellate_state.full_reset = True
                return await connection.fetchval(sql, *args, column=column)
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            if state.auto_reset and sets_session_state(sql):
                connection.stellate_state.full_reset = True
            result = await connection.fetchval(sql, *args, column=column)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)
        return result

    async def execute(self, sql: str, *args: Any) -> str:
        """Run ``sql`` and return PostgreSQL's status string (``"UPDATE 3"``).

        Without ``args`` the text may hold several statements separated by ``;``.
        """
        state = self._state
        if state.observers:
            state.notify(sql, args, "query")
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(sql)
            try:
                if state.auto_reset and sets_session_state(sql):
                    connection.stellate_state.full_reset = True
                status: str = await connection.execute(sql, *args)
                return status
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            if state.auto_reset and sets_session_state(sql):
                connection.stellate_state.full_reset = True
            status = await connection.execute(sql, *args)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)
        return status

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        """Run ``sql`` once per argument tuple, pipelined (one statement for observers).

        Outside a transaction asyncpg runs the batch in one implicit transaction, so
        it is all-or-nothing.
        """
        rows = args if isinstance(args, list) else list(args)
        state = self._state
        if state.observers:
            state.notify(sql, rows, "query")
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(sql)
            try:
                await connection.executemany(sql, rows)
                return
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            await connection.executemany(sql, rows)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)

    async def copy_records_to_table(
        self,
        table: str,
        *,
        records: Iterable[Sequence[Any]],
        columns: Sequence[str] | None = None,
        schema_name: str | None = None,
    ) -> str:
        """Bulk-load ``records`` into ``table`` with ``COPY ... FROM STDIN`` (binary).

        Returns:
            The status string (``"COPY 10000"``).
        """
        state = self._state
        described = f"COPY {table} ({', '.join(columns or ())}) FROM STDIN"
        if state.observers:
            state.notify(described, (), "query")
        kwargs: dict[str, Any] = {
            "records": records,
            "columns": list(columns) if columns is not None else None,
            "schema_name": schema_name,
        }
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter(described)
            try:
                status: str = await connection.copy_records_to_table(table, **kwargs)
                return status
            finally:
                tx.leave()
        manager = state.manager
        connection = manager.checkout()
        if connection is None:
            connection = await manager.acquire()
        try:
            status = await connection.copy_records_to_table(table, **kwargs)
        except BaseException:
            await manager.release(connection)
            raise
        if not manager.try_release(connection):
            await manager.release(connection)
        return status

    async def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run ``sql`` and return its rows as dicts."""
        return [dict(row) for row in await self.fetch(sql, *args)]

    async def query_one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """Run ``sql`` and return its first row as a dict, or ``None``.

        Example:
            ```python
            row = await db.query_one(
                "SELECT count(*) AS total, count(*) FILTER (WHERE published) AS published "
                "FROM books"
            )
            ```
        """
        row = await self.fetchrow(sql, *args)
        return None if row is None else dict(row)

    async def query_val(self, sql: str, *args: Any) -> Any:
        """Run ``sql`` and return the first column of its first row (``None`` without rows)."""
        return await self.fetchval(sql, *args)

    # -- transactions ----------------------------------------------------------------

    def transaction(
        self,
        *,
        isolation: IsolationLevel | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> Transaction:
        """A transaction; nested ones are savepoints. Use it with ``async with``.

        Args:
            isolation: ``read_committed`` (PostgreSQL's default), ``repeatable_read``
                or ``serializable``; outermost transactions only.
            readonly: forbid writes.
            deferrable: with ``serializable`` and ``readonly``, wait for a safe snapshot.
        """
        return Transaction(self, isolation=isolation, readonly=readonly, deferrable=deferrable)

    @property
    def in_transaction(self) -> bool:
        """Whether queries issued here now run inside a transaction."""
        return self._state.current() is not None

    @property
    def current_transaction(self) -> Transaction | None:
        """The innermost open transaction queries issued here run in, if any."""
        return self._state.current()

    def on_commit(self, callback: OnCommitCallback) -> None:
        """Run ``callback`` (sync or async) once the current transaction commits.

        Inside nested transactions it waits for the outermost commit and is dropped on
        any rollback that covers it. Outside a transaction it runs now (an async one as
        a task that :meth:`close` waits for).
        """
        tx = self._state.current()
        if tx is not None:
            tx.on_commit(callback)
            return
        result = callback()
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(_await(result))
            self._state.pending.add(task)
            task.add_done_callback(self._state.pending.discard)

    @contextlib.asynccontextmanager
    async def pinned_transaction(self) -> AsyncIterator[Transaction]:
        """A transaction every task uses until the block ends, then rolled back.

        Unlike :meth:`transaction`, which binds to the current task through a
        contextvar, this one binds to the Database, so queries from any task (an app
        under test, a fixture in another context) run in it. Meant for tests: the
        ``db`` pytest fixture is built on it.
        """
        state = self._state
        if state.pinned is not None:
            raise RuntimeError(
                f"Database `{self.alias}` already has a pinned transaction: nest "
                "`db.transaction()` blocks (savepoints) inside it instead"
            )
        tx = Transaction(self)
        await tx.start(bind=False, track_schema=True)
        state.pinned = tx
        try:
            yield tx
        finally:
            state.pinned = None
            if tx.state == "open":
                await tx.finish(commit=False)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """The raw asyncpg connection: the transaction's when one is open, else a pooled one.

        A pooled connection handed out this way gets a full reset when it returns,
        since anything (LISTEN, SET, temporary tables) may have been done on it.
        Statements run on it directly are not seen by query observers.
        """
        state = self._state
        tx = state.tx_var.get()
        if tx is None and state.pinned is not None:
            tx = await state.pinned.wait_idle()
        if tx is not None:
            connection = tx.enter("(raw connection from db.connection())")
            try:
                connection.stellate_state.full_reset = True
                yield connection
            finally:
                tx.leave()
            return
        connection = await state.manager.acquire()
        try:
            connection.stellate_state.full_reset = True
            yield connection
        finally:
            await state.manager.release(connection)

    # -- observers -------------------------------------------------------------------

    def add_observer(self, observer: QueryObserver) -> Callable[[], None]:
        """Call ``observer(event)`` for every statement sent through this database.

        Returns:
            A function that removes the observer.
        """
        observers = self._state.observers
        observers.append(observer)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                observers.remove(observer)

        return remove

    def pool_status(self) -> dict[str, int]:
        """Connections open, idle and in use, the maximum, and tasks waiting for one."""
        manager = self._state.manager
        pool = manager.pool
        size = pool.get_size() if pool is not None else 0
        idle = pool.get_idle_size() if pool is not None else 0
        return {
            "size": size,
            "idle": idle,
            "in_use": size - idle,
            "max_size": manager.max_size,
            "waiting": manager.waiting,
        }


async def _await(awaitable: Any) -> None:
    await run_callbacks([lambda: awaitable])


@contextlib.asynccontextmanager
async def connect(
    url: str | None = None, *, alias: str = "default", **options: Any
) -> AsyncIterator[Database]:
    """Open a database for a script, a notebook or a test, and make it ``get_db(alias)``.

    With ``url`` only that database is opened (``options`` are :class:`Database`
    arguments). Without it the databases come from the environment exactly as the orm
    plugin reads them (``STELLATE_DATABASE_URL``, ``STELLATE_DATABASES``, pool
    settings; an embedded PostgreSQL when no URL is set outside production). The
    previous databases come back when the block ends.

    Example:
        ```python
        async with connect("postgresql://postgres@127.0.0.1/app") as db:
            print(await db.query_val("SELECT version()"))
        ```

    Raises:
        DatabaseConnectionError: the server cannot be reached or refused the login.
        DatabaseNotConfiguredError: the URL is not a PostgreSQL URL.
    """
    if url is not None:
        db = Database(url, alias=alias, **options)
        await db.connect()
        testing = testing_databases() is not None
        previous = activate({**active_databases(), alias: db}, testing=testing)
        try:
            yield db
        finally:
            restore(previous)
            await db.close()
        return
    from stellate.core.settings import CoreSettings, load_settings
    from stellate.orm.plugin import open_databases
    from stellate.orm.settings import OrmSettings, build_databases

    if options:
        raise TypeError(
            f"connect() got pool options ({', '.join(sorted(options))}) without a URL: pass "
            "the URL too, or set the options as STELLATE_* variables"
        )
    core = load_settings(CoreSettings)
    settings = load_settings(OrmSettings)
    databases = build_databases(settings)
    async with open_databases(databases, settings, production=core.is_production):
        yield databases[alias] if alias in databases else get_db(alias)
