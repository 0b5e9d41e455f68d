"""pytest fixtures of stellate-orm, loaded through the ``stellate.pytest`` entry points.

Fixtures:
    database: (session) a fresh database ``stellate_test_<random>`` created on the server
        of ``STELLATE_TEST_DATABASE_URL`` (an embedded PostgreSQL when unset), migrated
        with the project's migrations (``STELLATE_MIGRATIONS_DIR``, default
        ``migrations``, when that folder exists), made what ``get_db()`` returns, and
        dropped at the end of the run.
    db: (function) the same database with the test inside a transaction that is rolled
        back afterwards; every query of the test, and of an app under test, runs in it.
    assert_num_queries: ``async with assert_num_queries(2): ...`` fails listing the SQL
        seen when the block does not run exactly that many statements.

The fixtures share pytest-asyncio's session event loop (the pool belongs to one loop):
set ``asyncio_default_fixture_loop_scope = "session"`` and
``asyncio_default_test_loop_scope = "session"`` in your pytest configuration.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from stellate.orm.database import (
    Database,
    QueryEvent,
    activate,
    active_databases,
    get_db,
    mask_url,
    restore,
)
from stellate.orm.plugin import apply_migrations

__all__ = [
    "QueryCountError",
    "assert_num_queries",
    "create_tables",
    "database_url_with_name",
    "temporary_database",
]


def _async_fixture(**kwargs: Any) -> Callable[[Any], Any]:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - async fixtures then need another plugin
        kwargs.pop("loop_scope", None)
        return pytest.fixture(**kwargs)  # type: ignore[no-any-return]
    return pytest_asyncio.fixture(**kwargs)


class QueryCountError(AssertionError):
    """A block ran another number of statements than ``assert_num_queries`` expected."""


@contextlib.asynccontextmanager
async def temporary_database(url: str | None = None) -> AsyncIterator[Database]:
    """Create a throwaway database, make it the default, and drop it at the end.

    Args:
        url: a server to create it on (its database is only used to run CREATE
            DATABASE); ``STELLATE_TEST_DATABASE_URL`` when omitted, else an embedded
            PostgreSQL under ``STELLATE_EMBEDDED_DIR`` (default ``.stellate/pgdata``).
    """
    url = url or os.environ.get("STELLATE_TEST_DATABASE_URL") or None
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            from stellate.orm.embedded import EmbeddedPostgres

            server = EmbeddedPostgres(os.environ.get("STELLATE_EMBEDDED_DIR", ".stellate/pgdata"))
            url = await server.start()
            stack.push_async_callback(server.stop)
        name = f"stellate_test_{secrets.token_hex(4)}"
        await _admin(url, f'CREATE DATABASE "{name}"')
        stack.push_async_callback(_admin, url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        test_url = database_url_with_name(url, name)
        await apply_migrations(test_url)
        db = Database(test_url, alias="default", pool_size=4)
        await db.connect()
        stack.push_async_callback(db.close)
        stack.callback(restore, activate({"default": db}, testing=True))
        yield db


async def _admin(url: str, sql: str) -> None:
    try:
        connection = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise pytest.UsageError(
            f"Cannot reach the test database server `{mask_url(url)}` "
            f"({type(exc).__name__}: {exc}): fix STELLATE_TEST_DATABASE_URL, or unset it to "
            "use the embedded PostgreSQL"
        ) from exc
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def database_url_with_name(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@_async_fixture(scope="session", loop_scope="session")
async def database() -> AsyncIterator[Database]:
    """A fresh test database for the whole run, made the default; dropped at the end."""
    async with temporary_database() as db:
        yield db


@_async_fixture(loop_scope="session")
async def db(database: Database) -> AsyncIterator[Database]:
    """The test database with this test inside a transaction rolled back afterwards."""
    async with database.pinned_transaction():
        yield database


@contextlib.asynccontextmanager
async def assert_num_queries(
    expected: int,
    *,
    using: str | None = None,
    include_transaction_control: bool = False,
) -> AsyncIterator[list[QueryEvent]]:
    """Fail unless the block sends exactly ``expected`` statements to the database.

    Args:
        expected: the number of statements.
        using: count only this database alias (default: every active database).
        include_transaction_control: count BEGIN, COMMIT, ROLLBACK and savepoints too.

    Yields:
        The list the statements are collected into.

    Raises:
        QueryCountError: with every statement seen, numbered.

    Example:
        ```python
        async with assert_num_queries(1):
            books = await Book.objects.select_related("author").all()
        ```
    """
    databases = [get_db(using)] if using is not None else list(active_databases().values())
    events: list[QueryEvent] = []
    seen_states: set[int] = set()
    removers = []
    for database in databases:
        # Handles that share one pool (app.db in tests) must not count a statement twice.
        key = id(database._state)
        if key not in seen_states:
            seen_states.add(key)
            removers.append(database.add_observer(events.append))
    try:
        yield events
    finally:
        for remove in removers:
            remove()
    counted = [e for e in events if include_transaction_control or e.kind == "query"]
    if len(counted) != expected:
        listing = "\n".join(
            f"  {number}. [{event.alias}] {event.sql}{_describe_args(event.args)}"
            for number, event in enumerate(counted, 1)
        )
        raise QueryCountError(
            f"Expected {expected} quer{'y' if expected == 1 else 'ies'}, "
            f"{len(counted)} ran:\n{listing or '  (none)'}"
        )


def _describe_args(args: Any) -> str:
    if not args:
        return ""
    text = repr(tuple(args))
    return f"  -- args {text if len(text) <= 80 else text[:77] + '...'}"


@pytest.fixture(name="assert_num_queries")
def assert_num_queries_fixture() -> Callable[..., contextlib.AbstractAsyncContextManager[Any]]:
    """``assert_num_queries(n)``: an async context manager counting statements."""
    return assert_num_queries


async def create_tables(*models: Any) -> None:
    """Create the tables of ``models`` (in the test transaction when ``db`` is used).

    Each model's table is created on its ``Meta.database`` alias with the DDL of
    ``stellate.orm.schema.create_table_sql``.
    """
    # Imported on use (and untyped for mypy): the schema module belongs to the models
    # side of the package, which these fixtures must not need to import.
    create_table_sql = importlib.import_module("stellate.orm.schema").create_table_sql
    for model in models:
        alias = getattr(model._meta, "database", None) or "default"
        target = get_db(alias)
        for statement in create_table_sql(model):
            await target.execute(statement)
