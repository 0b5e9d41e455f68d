"""The slice of ``stellate.orm.Database`` that the auth stores use (raw parameterised SQL)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["SQLDatabase", "resolve_database"]


class SQLDatabase(Protocol):
    """What the auth stores call; ``stellate.orm.Database`` provides it."""

    async def fetch(self, sql: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Any: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def execute(self, sql: str, *args: Any) -> str: ...


def resolve_database(database: SQLDatabase | str) -> SQLDatabase:
    """``database`` itself, or the ORM's database of that alias (looked up on each call,
    so tests and apps that connect later are seen)."""
    if not isinstance(database, str):
        return database
    from stellate.orm.database import get_db

    db: SQLDatabase = get_db(database)
    return db
