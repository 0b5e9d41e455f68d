"""The `orm` plugin: opens the databases at startup, adds ``app.db`` and a health check."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, ClassVar

import msgspec

from stellate.core import Plugin
from stellate.core.exceptions import ImproperlyConfigured
from stellate.orm.database import Database, activate, restore, test_databases
from stellate.orm.settings import OrmSettings, build_databases

if TYPE_CHECKING:
    from stellate.core import App

__all__ = ["OrmPlugin", "open_databases"]

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


@contextlib.asynccontextmanager
async def open_databases(
    databases: Mapping[str, Database], settings: OrmSettings, *, production: bool
) -> AsyncIterator[Mapping[str, Database]]:
    """Connect ``databases`` and make them what ``get_db()`` returns until the block ends.

    Under the pytest fixtures (the ``database`` fixture is active) nothing is opened:
    every alias shares the test database and its per-test transaction, so requests
    of an app under test see the test's rows and roll back with them.
    """
    testing = test_databases()
    if testing is not None:
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
        for db in databases.values():
            await db.connect()
            stack.push_async_callback(db.close)
        stack.callback(restore, activate(databases))
        yield databases
