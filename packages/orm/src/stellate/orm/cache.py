"""``Meta.cache_ttl``: query results cached per worker, invalidated through PostgreSQL.

Design. Every table a cached model lives on is *watched*: each write the ORM
makes to it (``save()``, ``delete()``, ``QuerySet.update()``/``delete()``,
``bulk_create()``/``bulk_update()``, many-to-many ``add``/``remove``/``set``/
``clear`` on a junction table of a cached model) stores a new **generation**
for the table in the ``stellate_cache_generation`` table, in the same statement
as the write (a data-modifying ``WITH``) or the same transaction. A generation
is ``<transaction id>.<clock timestamp>``: never reused, even by a transaction
that rolls back, so an entry cached inside a rolled-back transaction can never
match again.

A cached read (``await qs``, ``qs.count()``) first reads the generations of every
table its SQL names (one small indexed query), then looks for an entry under
(SQL, parameters, generations) in a bounded per-model store in this process.
On a miss it runs the query and reads the generations again; the rows are kept
only when both reads agree, which proves no write committed in between. Since
the key holds the generations, an entry can never be served after a write to
any of its tables: several workers stay correct without sharing the store, and
a write becomes visible to every worker at its commit, with its data.

Costs and limits (documented in the README):

- A hit still makes one round trip (the generation read); the cache pays off for
  queries that cost more than that (joins, aggregates, large scans), not for a
  lookup by primary key.
- Writes to a watched table update one row of ``stellate_cache_generation``, so
  concurrent transactions writing the same watched table queue on that row until
  they commit: use ``cache_ttl`` on read-mostly tables.
- Writes that bypass the ORM (raw SQL, ``Database.execute``, another program,
  COPY into the table, triggers and ``ON DELETE CASCADE`` effects on other
  tables) do not move the generation: results may then be stale for at most
  ``cache_ttl`` seconds. Call :func:`invalidate` after such writes.
- A query that reads a table no cached model lives on (a join to an uncached
  model) is not cached, since writes to that table are not tracked.
- ``select_for_update()`` queries are never cached.
"""

from __future__ import annotations

import re
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from stellate.orm import _execute
from stellate.orm.database import get_db
from stellate.orm.models import Model, _model_classes

if TYPE_CHECKING:
    from stellate.orm.many_to_many import ManyToManyField
    from stellate.orm.models import Options

__all__ = ["GENERATION_TABLE", "GENERATION_TABLE_SQL", "invalidate"]

GENERATION_TABLE = "stellate_cache_generation"
GENERATION_TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {GENERATION_TABLE} "
    "(table_name TEXT PRIMARY KEY, generation TEXT NOT NULL)"
)
_GENERATIONS_SQL = (
    f"SELECT array_agg(table_name || '=' || generation ORDER BY table_name) "
    f"FROM {GENERATION_TABLE} WHERE table_name = ANY($1::text[])"
)
T = TypeVar("T")

_MAX_ENTRIES = 512
"""Entries kept per model in each process (least recently used dropped first)."""

_TABLE_REFERENCE = re.compile(r'\b(?:FROM|JOIN)\s+((?:"(?:[^"]|"")+"\.)?"(?:[^"]|"")+")')


def _bump_cte(tables: Sequence[str]) -> str:
    values = ", ".join(
        "('" + t.replace("'", "''") + "', "
        "pg_current_xact_id()::text || '.' || clock_timestamp()::text)"
        for t in tables
    )
    return (
        f"_stellate_cache AS (INSERT INTO {GENERATION_TABLE} (table_name, generation) "
        f"VALUES {values} ON CONFLICT (table_name) DO UPDATE SET generation = "
        "EXCLUDED.generation)"
    )


def watched(meta: Options) -> bool:
    """Whether writes to the table of ``meta`` must move its cache generation."""
    return meta.table_owner.cache_watched


def _with_cte(sql: str, tables: Sequence[str]) -> str:
    cte = _bump_cte(tables)
    if sql.startswith("WITH RECURSIVE "):
        return f"WITH RECURSIVE {cte}, {sql[len('WITH RECURSIVE ') :]}"
    if sql.startswith("WITH "):
        return f"WITH {cte}, {sql[len('WITH ') :]}"
    return f"WITH {cte} {sql}"


def write_sql(meta: Options, sql: str) -> str:
    """``sql`` (an INSERT/UPDATE/DELETE on ``meta``'s table) that also moves its generation.

    Unchanged when the table is not watched, so uncached models pay nothing.
    """
    return _with_cte(sql, [meta.table]) if meta.table_owner.cache_watched else sql


def junction_write_sql(m2m: ManyToManyField, sql: str) -> str:
    """``sql`` writing a many-to-many junction table, moving its generation when watched."""
    if watched(m2m.source._meta) or watched(m2m.target._meta):
        return _with_cte(sql, [m2m.table])
    return sql


async def invalidate(model: type[Model], *, using: str | None = None) -> None:
    """Move the cache generation of ``model``'s table after a write that bypassed the ORM.

    Example:
        ```python
        await get_db().execute("UPDATE books SET price = price * 1.1")
        await invalidate(Book)
        ```
    """
    meta = model._meta
    alias = using or meta.database
    await get_db(alias).execute(f"WITH {_bump_cte([meta.table])} SELECT 1")


def _tables_of(sql: str) -> list[str]:
    names = set()
    for quoted in _TABLE_REFERENCE.findall(sql):
        parts = re.findall(r'"((?:[^"]|"")+)"', quoted)
        names.add(".".join(p.replace('""', '"') for p in parts))
    return sorted(names)


def _table_watched(table: str) -> bool:
    for cls in _model_classes(Model):
        meta = cls._meta
        if meta.table == table and not meta.abstract and watched(meta):
            return True
        for m2m in meta.many_to_many.values():
            if m2m.table == table and (watched(m2m.source._meta) or watched(m2m.target._meta)):
                return True
    return False


def _cacheable_tables(meta: Options, sql: str) -> list[str] | None:
    """The tables ``sql`` reads when all of them are watched, else ``None`` (not cached)."""
    key = ("cache_tables", sql)
    cache = meta.sql_cache
    if key in cache:
        return cache[key]  # type: ignore[no-any-return]
    tables: list[str] | None = _tables_of(sql)
    if not tables or not all(_table_watched(t) for t in tables):
        tables = None
    cache[key] = tables
    return tables


async def fetch(model: type[Model], sql: str, params: Sequence[Any], kind: str) -> Any:
    """Run a read of a ``cache_ttl`` model through the cache (``kind``: fetch or fetchval)."""
    meta = model._meta
    ttl = meta.cache_ttl
    tables = _cacheable_tables(meta, sql) if ttl is not None else None
    run = _execute.fetch if kind == "fetch" else _execute.fetchval
    if tables is None or ttl is None:
        return await run(model, sql, params)
    before = await _execute.fetchval(model, _GENERATIONS_SQL, [tables])
    db = get_db(meta.database)
    key = (db.alias, db.url, kind, sql, repr(params), tuple(before or ()))
    store = meta.result_cache
    now = time.monotonic()
    entry = store.pop(key, None)
    if entry is not None and entry[0] > now:
        store[key] = entry  # most recently used last
        return entry[1]
    result = await run(model, sql, params)
    after = await _execute.fetchval(model, _GENERATIONS_SQL, [tables])
    if after == before:
        if len(store) >= _MAX_ENTRIES:
            del store[next(iter(store))]
        store[key] = (now + ttl, result)
    return result


async def bulk_write(model: type[Model], write: Coroutine[Any, Any, T]) -> T:
    """Run a bulk write (several statements or COPY) and move the generation with it.

    On a watched table both run in one transaction (a savepoint inside an outer
    one), so the new generation commits exactly with the rows.
    """
    meta = model._meta
    if not watched(meta):
        return await write
    async with get_db(meta.database).transaction():
        result = await write
        await _execute.execute(model, f"WITH {_bump_cte([meta.table])} SELECT 1", [])
    return result
