"""Where the migration commands find the models, the migrations and the database.

Read from the environment (``STELLATE_`` prefix), each value overridable by a
command-line option:

- ``STELLATE_MODELS``: comma-separated modules holding the project's models
  (``bookstore.models,accounts.models``). Every concrete ``Model`` subclass found
  as an attribute of those modules is migrated.
- ``STELLATE_MIGRATIONS_DIR``: the migrations folder (default ``migrations``).
- ``STELLATE_MIGRATIONS_LOCK_TIMEOUT``: seconds a DDL statement may wait for a
  table lock (default 5).
- ``STELLATE_MIGRATIONS_LARGE_TABLE_ROWS``: the row estimate from which locking
  operations are warned about (default 100,000).
- the database: ``STELLATE_DATABASE_URL`` (or ``DATABASE_URL``), else the embedded
  PostgreSQL the orm plugin would start (outside production).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec

from stellate.core.settings import load_settings
from stellate.orm.migrations.risk import DEFAULT_LARGE_TABLE_ROWS

__all__ = ["MigrationSettings", "database_url", "load_migration_settings"]


class MigrationSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the migration commands (``STELLATE_*`` variables).

    Attributes:
        models: modules holding the models.
        migrations_dir: the migrations folder.
        migrations_lock_timeout: seconds a DDL statement may wait for a lock.
        migrations_large_table_rows: row estimate from which lock warnings apply.
    """

    models: list[str] = msgspec.field(default_factory=list)
    migrations_dir: str = "migrations"
    migrations_lock_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    migrations_large_table_rows: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_LARGE_TABLE_ROWS


def load_migration_settings() -> MigrationSettings:
    """The settings from the environment.

    Raises:
        SettingsError: naming each invalid variable.
    """
    return load_settings(MigrationSettings, prefix="STELLATE_")


def configured_url() -> str | None:
    """The database URL from the environment, if one is set."""
    return os.environ.get("STELLATE_DATABASE_URL") or os.environ.get("DATABASE_URL") or None


@contextlib.asynccontextmanager
async def database_url(explicit: str | None) -> AsyncIterator[str]:
    """The URL to migrate: ``explicit``, the environment's, or an embedded server's.

    The embedded PostgreSQL (development only) is started for the block and
    released after it, exactly as the orm plugin would use it.

    Raises:
        ImproperlyConfigured: no URL in production, or no embedded server available.
    """
    url = explicit or configured_url()
    if url:
        yield url
        return
    from stellate.core.exceptions import ImproperlyConfigured
    from stellate.orm.settings import OrmSettings

    orm = load_settings(OrmSettings, prefix="STELLATE_")
    if os.environ.get("STELLATE_ENV") == "production" or not orm.embedded_database:
        raise ImproperlyConfigured(
            "No database to migrate: set STELLATE_DATABASE_URL (or pass --database-url) to "
            "postgresql://user:password@host:5432/dbname"
        )
    from stellate.orm.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(orm.embedded_dir)
    try:
        yield await server.start()
    finally:
        await server.stop()
