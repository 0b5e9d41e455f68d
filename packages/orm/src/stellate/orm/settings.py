"""Settings of the orm plugin (``STELLATE_*`` variables) and the databases they describe.

One database is ``default``, from ``STELLATE_DATABASE_URL`` (or ``DATABASE_URL``).
Others are named in ``STELLATE_DATABASES``, a JSON object mapping an alias to a URL or
to an object with a ``url`` and pool settings that differ from the top-level ones::

    STELLATE_DATABASES='{"replica": "postgresql://app@replica/app",
                         "analytics": {"url": "postgresql://app@olap/app", "pool_size": 4}}'

Timeouts are in milliseconds and lifetimes in seconds, as in the reference guide.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, TypeVar

import msgspec

from stellate.core.exceptions import ImproperlyConfigured
from stellate.orm.database import Database, DatabaseNotConfiguredError, check_url

__all__ = ["DatabaseAliasSettings", "OrmSettings", "build_databases"]

T = TypeVar("T")

_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DatabaseAliasSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One entry of ``STELLATE_DATABASES``; unset fields take the top-level values."""

    url: str
    pool_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    pool_min_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    statement_cache_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    query_timeout: Annotated[int, msgspec.Meta(ge=0)] | None = None
    pgbouncer: bool | None = None


class OrmSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the ``orm`` plugin, read from ``STELLATE_<FIELD>`` variables.

    Attributes:
        database_url: the ``default`` database (also read from ``DATABASE_URL``).
            Unset outside production: an embedded PostgreSQL is started.
        databases: more aliases, as a JSON object (see the module docstring).
        pool_size: maximum connections per database; ``0`` = 2 x CPU cores.
        pool_min_size: connections opened at startup and kept while idle.
        pool_max_queries: queries after which a connection is replaced.
        pool_max_lifetime: seconds after which a connection is replaced (``0``: never).
        pool_max_inactive_lifetime: seconds an idle extra connection is kept.
        pool_acquire_timeout: ms to wait for a free connection (``0``: forever).
        pool_reset: ``auto`` (reset session state on release only when a connection
            may carry some) or ``full`` (always, asyncpg's default behaviour).
        prepared_statements: cache prepared statements (off = ``statement_cache_size`` 0).
        statement_cache_size: prepared statements cached per connection.
        connect_timeout: ms to establish a connection.
        query_timeout: server-side ``statement_timeout`` in ms (``0``: unlimited).
        command_timeout: client-side timeout of each statement in ms (``0``: none).
        pgbouncer: behind PgBouncer in transaction mode (no named prepared statements,
            no startup parameters).
        embedded_database: start an embedded PostgreSQL when no URL is set (never in
            production).
        embedded_dir: data directory of the embedded PostgreSQL.
        migrations_dir: the project's migrations folder, applied to the embedded
            PostgreSQL at startup (default: ``migrations`` in the working directory).
    """

    database_url: Annotated[
        str | None, msgspec.Meta(extra={"env": ["DATABASE_URL"], "secret": True})
    ] = None
    databases: dict[str, str | DatabaseAliasSettings] = msgspec.field(default_factory=dict)
    pool_size: Annotated[int, msgspec.Meta(ge=0)] = 0
    pool_min_size: Annotated[int, msgspec.Meta(ge=0)] = 1
    pool_max_queries: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    pool_max_lifetime: Annotated[float, msgspec.Meta(ge=0)] = 3600
    pool_max_inactive_lifetime: Annotated[float, msgspec.Meta(ge=0)] = 300
    pool_acquire_timeout: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    pool_reset: Literal["auto", "full"] = "auto"
    prepared_statements: bool = True
    statement_cache_size: Annotated[int, msgspec.Meta(ge=0)] = 256
    connect_timeout: Annotated[int, msgspec.Meta(gt=0)] = 10_000
    query_timeout: Annotated[int, msgspec.Meta(ge=0)] = 0
    command_timeout: Annotated[int, msgspec.Meta(ge=0)] = 0
    pgbouncer: bool = False
    embedded_database: bool = True
    embedded_dir: str = ".stellate/pgdata"
    migrations_dir: str | None = None


def build_databases(settings: OrmSettings) -> dict[str, Database]:
    """One unconnected :class:`Database` per alias; ``default`` may have no URL yet.

    Raises:
        ImproperlyConfigured: an alias name or URL is invalid, or ``default`` is given twice.
    """
    problems: list[str] = []
    entries: dict[str, DatabaseAliasSettings | None] = {"default": None}
    for alias, entry in settings.databases.items():
        if not _ALIAS.match(alias):
            problems.append(
                f"STELLATE_DATABASES has alias `{alias}`: aliases are identifiers "
                "(letters, digits, underscores), e.g. `replica`"
            )
            continue
        if alias == "default" and settings.database_url:
            problems.append(
                "STELLATE_DATABASES defines `default` and STELLATE_DATABASE_URL (or "
                "DATABASE_URL) is set too: keep only one of them"
            )
            continue
        if isinstance(entry, str):
            entry = DatabaseAliasSettings(url=entry)
        entries[alias] = entry
    databases: dict[str, Database] = {}
    for alias, override in entries.items():
        url = override.url if override is not None else settings.database_url
        source = (
            f"STELLATE_DATABASES[{alias!r}]" if override is not None else "STELLATE_DATABASE_URL"
        )
        try:
            databases[alias] = _database(settings, alias, url, override, source)
        except DatabaseNotConfiguredError as exc:
            problems.append(str(exc))
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    return databases


def _database(
    settings: OrmSettings,
    alias: str,
    url: str | None,
    entry: DatabaseAliasSettings | None,
    source: str,
) -> Database:
    if url is not None:
        check_url(url, source=source)

    over = entry if entry is not None else DatabaseAliasSettings(url="")
    pgbouncer = _pick(over.pgbouncer, settings.pgbouncer)
    cache_size = _pick(over.statement_cache_size, settings.statement_cache_size)
    if not settings.prepared_statements:
        cache_size = 0
    query_timeout = _pick(over.query_timeout, settings.query_timeout)
    return Database(
        url,
        alias=alias,
        pool_size=_pick(over.pool_size, settings.pool_size),
        min_size=_pick(over.pool_min_size, settings.pool_min_size),
        statement_cache_size=cache_size,
        max_queries=settings.pool_max_queries,
        max_lifetime=settings.pool_max_lifetime or None,
        max_inactive_lifetime=settings.pool_max_inactive_lifetime,
        connect_timeout=settings.connect_timeout / 1000,
        query_timeout=query_timeout / 1000 if query_timeout else None,
        command_timeout=settings.command_timeout / 1000 if settings.command_timeout else None,
        acquire_timeout=(
            settings.pool_acquire_timeout / 1000 if settings.pool_acquire_timeout else None
        ),
        pgbouncer=pgbouncer,
        reset=settings.pool_reset,
    )


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value
