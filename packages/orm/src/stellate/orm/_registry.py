"""The databases ``get_db()`` returns, and the module-level transaction helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stellate.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from stellate.orm.database import Database
    from stellate.orm.transactions import IsolationLevel, OnCommitCallback, Transaction

__all__ = [
    "DatabaseNotConfiguredError",
    "activate",
    "active_databases",
    "get_db",
    "on_commit",
    "restore",
    "testing_databases",
    "transaction",
]


class DatabaseNotConfiguredError(ImproperlyConfigured):
    """No database (or no database with the requested alias) is configured."""


class _ActiveDatabases:
    """The databases ``get_db()`` returns.

    Process-wide on purpose: the ORM reaches its database from any task (request
    handlers run in tasks the lifespan never saw, so a contextvar set at startup would
    not reach them). It is set only at runtime (app startup, ``connect()``, the pytest
    fixtures), never at import time, and restored when they end.
    """

    __slots__ = ("databases", "testing")

    def __init__(self) -> None:
        self.databases: Mapping[str, Database] = {}
        self.testing = False


_ACTIVE = _ActiveDatabases()


def activate(
    databases: Mapping[str, Database], *, testing: bool = False
) -> tuple[Mapping[str, Database], bool]:
    """Make ``databases`` the ones ``get_db()`` returns; returns what to restore."""
    previous = (_ACTIVE.databases, _ACTIVE.testing)
    _ACTIVE.databases = dict(databases)
    _ACTIVE.testing = testing
    return previous


def restore(previous: tuple[Mapping[str, Database], bool]) -> None:
    """Undo :func:`activate`."""
    _ACTIVE.databases, _ACTIVE.testing = previous


def active_databases() -> Mapping[str, Database]:
    """The databases ``get_db()`` currently returns, by alias."""
    return _ACTIVE.databases


def testing_databases() -> Mapping[str, Database] | None:
    """The active databases when the pytest fixtures installed them, else ``None``."""
    return _ACTIVE.databases if _ACTIVE.testing else None


def get_db(alias: str | None = "default") -> Database:
    """The database registered under ``alias`` by the orm plugin or :func:`connect`.

    Args:
        alias: the database alias; ``None`` means ``"default"`` (a model without
            ``Meta.database``).

    Raises:
        DatabaseNotConfiguredError: none is configured, or none under ``alias``.
    """
    try:
        return _ACTIVE.databases[alias or "default"]
    except KeyError:
        alias = alias or "default"
    configured = _ACTIVE.databases
    if not configured:
        raise DatabaseNotConfiguredError(
            "No database is configured: enable the `orm` plugin "
            '(App(plugins=["orm"])) and start the app, or open one in scripts and tests '
            "with `async with stellate.orm.connect(url):`"
        ) from None
    names = ", ".join(f"`{name}`" for name in configured)
    raise DatabaseNotConfiguredError(
        f"No database alias `{alias}` (configured: {names}): add it to STELLATE_DATABASES, "
        f'e.g. STELLATE_DATABASES=\'{{"{alias}": "postgresql://user@host:5432/db"}}\', or '
        "fix the alias in Meta.database / get_db()"
    ) from None


def transaction(
    using: str = "default",
    *,
    isolation: IsolationLevel | None = None,
    readonly: bool = False,
    deferrable: bool = False,
) -> Transaction:
    """``get_db(using).transaction(...)``: a transaction on the database ``using``."""
    return get_db(using).transaction(isolation=isolation, readonly=readonly, deferrable=deferrable)


def on_commit(callback: OnCommitCallback, *, using: str = "default") -> None:
    """``get_db(using).on_commit(callback)``: run ``callback`` after the commit."""
    get_db(using).on_commit(callback)
