"""Run model SQL on the model's database, translating errors into ones that name the fix."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from stellate.orm.database import get_db
from stellate.orm.exceptions import (
    MissingTableError,
    QueryValueError,
    translate_integrity_error,
)

if TYPE_CHECKING:
    from stellate.orm.models import Model

_TRANSLATED = (
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.UndefinedTableError,
    asyncpg.DataError,
    # A function, operator or type of an extension not enabled (pg_trgm, vector).
    asyncpg.UndefinedFunctionError,
    asyncpg.UndefinedObjectError,
)


def _translate(exc: Exception, model: type[Model], sql: str) -> Exception:
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return translate_integrity_error(exc, model)
    if isinstance(exc, asyncpg.UndefinedTableError):
        meta = model._meta
        return MissingTableError(
            f"{exc} (model `{model.__name__}`, database `{meta.database}`): create it with "
            "`stellate migrate` (or `create_tables(...)` in tests)"
        )
    from stellate.orm.postgres import extension_error

    missing = extension_error(exc, model.__name__)
    if missing is not None:
        return missing
    short = sql if len(sql) <= 200 else sql[:200] + "..."
    return QueryValueError(f"{exc} in a `{model.__name__}` query: {short}")


async def fetch(model: type[Model], sql: str, params: Sequence[Any]) -> list[Any]:
    try:
        return await get_db(model._meta.database).fetch(sql, *params)
    except _TRANSLATED as exc:
        raise _translate(exc, model, sql) from exc


async def fetchrow(model: type[Model], sql: str, params: Sequence[Any]) -> Any:
    try:
        return await get_db(model._meta.database).fetchrow(sql, *params)
    except _TRANSLATED as exc:
        raise _translate(exc, model, sql) from exc


async def fetchval(model: type[Model], sql: str, params: Sequence[Any]) -> Any:
    try:
        return await get_db(model._meta.database).fetchval(sql, *params)
    except _TRANSLATED as exc:
        raise _translate(exc, model, sql) from exc


async def execute(model: type[Model], sql: str, params: Sequence[Any]) -> int:
    """Run a write and return the row count from its status (``UPDATE 3`` -> 3)."""
    try:
        status = await get_db(model._meta.database).execute(sql, *params)
    except _TRANSLATED as exc:
        raise _translate(exc, model, sql) from exc
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def executemany(model: type[Model], sql: str, rows: Iterable[Sequence[Any]]) -> None:
    try:
        await get_db(model._meta.database).executemany(sql, rows)
    except _TRANSLATED as exc:
        raise _translate(exc, model, sql) from exc


async def copy_records(
    model: type[Model], columns: list[str], records: list[tuple[Any, ...]]
) -> int:
    schema, _, table = model._meta.table.rpartition(".")
    try:
        status = await get_db(model._meta.database).copy_records_to_table(
            table, records=records, columns=columns, schema_name=schema or None
        )
    except _TRANSLATED as exc:
        raise _translate(exc, model, f"COPY {model._meta.table}") from exc
    tail = str(status).rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else len(records)
