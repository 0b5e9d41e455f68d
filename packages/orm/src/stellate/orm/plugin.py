"""The `orm` plugin: opens the databases at startup, adds ``app.db`` and a health check."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg
import msgspec

from stellate.core import JSONResponse, Plugin
from stellate.core.exceptions import ImproperlyConfigured
from stellate.orm.database import (
    Database,
    DatabaseConnectionError,
    activate,
    restore,
    testing_databases,
)
from stellate.orm.pool import PoolTimeoutError
from stellate.orm.settings import OrmSettings, build_databases

if TYPE_CHECKING:
    from starlette.requests import Request

    from stellate.core import App

__all__ = [
    "UNAVAILABLE_ERRORS",
    "OrmPlugin",
    "apply_migrations",
    "database_unavailable",
    "open_databases",
]

logger = logging.getLogger("stellate.orm")

#: The database cannot serve right now (down, restarting, every pooled connection busy):
#: a request that meets one of these gets a 503 it may retry, not a 500.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    PoolTimeoutError,
    DatabaseConnectionError,
    # Refused, reset or aborted connections, and asyncpg's "unexpected connection_lost()".
    ConnectionError,
    # A connect or query that outlived STELLATE_CONNECT_TIMEOUT / STELLATE_COMMAND_TIMEOUT.
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)

_NO_URL_IN_PRODUCTION = (
    "STELLATE_DATABASE_URL is not set: production needs a database URL (the embedded "
    "PostgreSQL is for development and tests only); set STELLATE_DATABASE_URL (or "
    "DATABASE_URL) to postgresql://user:password@host:5432/dbname"
)


class OrmPlugin(Plugin):
    """Enables stellate-orm in an app.

    Settings are read from ``STELLATE_*`` variables (see :class:`OrmSettings`). At
    startup the plugin opens a pool per database alias (starting an embedded
    PostgreSQL when no URL is set outside production) and makes them what
    ``get_db()`` returns; at shutdown it closes them. It adds ``app.db`` (the
    ``default`` database) and the ``database`` health check.
    """

    name: ClassVar[str] = "orm"
    requires: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[type[msgspec.Struct] | None] = OrmSettings
    env_prefix: ClassVar[str | None] = "STELLATE_"
    extensions: ClassVar[tuple[str, ...]] = ("db",)

    def setup(self, app: App) -> None:
        config = self.config if isinstance(self.config, OrmSettings) else OrmSettings()
        if (
            app.settings.is_production
            and not config.database_url
            and "default" not in config.databases
        ):
            raise ImproperlyConfigured(_NO_URL_IN_PRODUCTION)
        databases = build_databases(config)
        app.add_extension("db", databases["default"])

        @contextlib.asynccontextmanager
        async def lifespan(app: App) -> AsyncIterator[None]:
            async with open_databases(databases, config, production=app.settings.is_production):
                yield

        async def ping() -> None:
            await asyncio.gather(*(db.fetchval("SELECT 1") for db in databases.values()))

        app.add_lifespan(lifespan)
        app.add_health_check("database", ping)
        for error in UNAVAILABLE_ERRORS:
            app.add_exception_handler(error, database_unavailable)

        from stellate.orm.migrations.commands import MIGRATION_COMMANDS

        for command in MIGRATION_COMMANDS:
            app.add_command(command)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for :data:`UNAVAILABLE_ERRORS`; the pool reconnects by itself once the server is back."""
    if isinstance(exc, PoolTimeoutError):
        detail = (
            "The database is busy: no connection became free in time. Retry shortly "
            "(operators: see the log for the pool size and waiting tasks)"
        )
        logger.warning("%s", exc)
    else:
        detail = "The database is unavailable or did not answer in time. Retry in a few seconds"
        logger.warning(
            "Database unavailable during %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "2"})


@contextlib.asynccontextmanager
async def open_databases(
    databases: Mapping[str, Database], settings: OrmSettings, *, production: bool
) -> AsyncIterator[Mapping[str, Database]]:
    """Connect ``databases`` and make them what ``get_db()`` returns until the block ends.

    Under the pytest fixtures (the ``database`` fixture is active) nothing is opened:
    every alias shares the test database and its per-test transaction, so requests
    of an app under test see the test's rows and roll back with them.
    """
    testing = testing_databases()
    # A test that runs the app in a loop of its own (a CLI command's asyncio.run) cannot
    # use the test pool, which belongs to the session loop: it opens its databases.
    if testing is not None and testing["default"]._state.manager.in_running_loop():
        for alias, db in databases.items():
            db.share(testing.get(alias) or testing["default"])
        yield databases
        return
    async with contextlib.AsyncExitStack() as stack:
        default = databases["default"]
        if default.url is None:
            if production:
                raise ImproperlyConfigured(_NO_URL_IN_PRODUCTION)
            if not settings.embedded_database:
                raise ImproperlyConfigured(
                    "No database URL is set and STELLATE_EMBEDDED_DATABASE is off: set "
                    "STELLATE_DATABASE_URL to postgresql://user:password@host:5432/dbname, "
                    "or unset STELLATE_EMBEDDED_DATABASE to use the embedded PostgreSQL"
                )
            from stellate.orm.embedded import EmbeddedPostgres

            server = EmbeddedPostgres(settings.embedded_dir)
            default.url = await server.start()
            stack.push_async_callback(server.stop)
            # Forget the URL at shutdown, so the next startup starts the server again.
            stack.callback(setattr, default, "url", None)
            # A development database nobody set up: bring it to the project's schema.
            applied = await apply_migrations(default.url, settings.migrations_dir)
            if applied:
                logger.info("Applied %d migration(s) to the embedded PostgreSQL", applied)
        for db in databases.values():
            await db.connect()
            stack.push_async_callback(db.close)
        stack.callback(restore, activate(databases))
        yield databases


async def apply_migrations(url: str, directory: str | Path | None = None) -> int:
    """Apply the project's migrations to the database at ``url``; return how many ran.

    Args:
        url: the database.
        directory: the migrations folder; ``STELLATE_MIGRATIONS_DIR`` (default
            ``migrations``) when omitted. A missing or empty folder means no migrations.
    """
    folder = Path(directory or os.environ.get("STELLATE_MIGRATIONS_DIR") or "migrations")
    history = await asyncio.to_thread(_load_history, folder)
    if history is None:
        return 0
    executor = importlib.import_module("stellate.orm.migrations.executor")
    result = await executor.MigrationExecutor(url, history).migrate()
    return len(result.applied)


def _load_history(folder: Path) -> Any:
    if not folder.is_dir():
        return None
    # The migration machinery is imported only for projects that have migrations.
    history = importlib.import_module("stellate.orm.migrations.loader").load_history(folder)
    return history if history.migrations else None
