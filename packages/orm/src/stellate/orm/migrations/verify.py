"""Comparing the live schema with the schema the applied migrations produce.

Rather than re-implement PostgreSQL's spelling of types, defaults and constraint
definitions, the expected schema is built for real in a scratch schema inside a
transaction that is rolled back, and both schemas are read back through the same
catalog queries (``format_type``, ``pg_get_constraintdef``, ``pg_get_indexdef``).
Equal output means equal schemas, whatever the spelling in the migration files.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from stellate.orm.migrations import _sql
from stellate.orm.migrations.executor import MIGRATIONS_TABLE
from stellate.orm.migrations.state import ProjectState, ordered_by_references

__all__ = ["schema_drift"]

_COLUMNS = """
SELECT c.relname AS table, c.relpersistence::text AS persistence, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity,
       a.attgenerated::text AS generated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS = """
SELECT cl.relname AS table, co.conname AS name, pg_get_constraintdef(co.oid) AS definition
FROM pg_constraint co
JOIN pg_class cl ON cl.oid = co.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
WHERE n.nspname = $1 AND co.contype IN ('p', 'u', 'f', 'c', 'x')
"""

_INDEXES = """
SELECT t.relname AS table, i.relname AS name, pg_get_indexdef(i.oid) AS definition,
       x.indisvalid AS valid
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = $1 AND NOT EXISTS (
    SELECT 1 FROM pg_constraint c
    WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x') AND c.conrelid = t.oid
)
"""


class _Rollback(Exception):
    pass


class _Unbuildable(Exception):
    def __init__(self, statement: str, error: Exception) -> None:
        super().__init__(statement)
        self.statement = statement
        self.error = error


async def _introspect(conn: asyncpg.Connection, schema: str) -> dict[str, Any]:
    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace(f'"{schema}".', "").replace(f"{schema}.", "")

    tables: dict[str, dict[str, Any]] = {}
    for row in await conn.fetch(_COLUMNS, schema):
        if row["table"] == MIGRATIONS_TABLE:
            continue
        table = tables.setdefault(
            row["table"], {"unlogged": row["persistence"] == "u", "columns": {}}
        )
        table["columns"][row["column"]] = {
            "type": row["type"],
            "not null": row["not_null"],
            "default": clean(row["default"]),
            "identity": row["identity"] != "",
            "generated": row["generated"] != "",
        }
    constraints = {
        (row["table"], row["name"]): clean(row["definition"])
        for row in await conn.fetch(_CONSTRAINTS, schema)
        if row["table"] != MIGRATIONS_TABLE
    }
    indexes = {
        (row["table"], row["name"]): f"{clean(row['definition'])}"
        + ("" if row["valid"] else " (INVALID: a failed CONCURRENTLY build; drop it)")
        for row in await conn.fetch(_INDEXES, schema)
        if row["table"] != MIGRATIONS_TABLE
    }
    return {"tables": tables, "constraints": constraints, "indexes": indexes}


async def schema_drift(
    conn: asyncpg.Connection, state: ProjectState, *, schema: str = "public"
) -> list[str]:
    """Every difference between schema ``schema`` of the live database and ``state``.

    Returns:
        One sentence per difference (empty when the database matches).
    """
    scratch = f"stellate_verify_{secrets.token_hex(4)}"
    expected: dict[str, Any] = {}
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA {_sql.quote(scratch)}")
            await conn.execute(f"SET LOCAL search_path = {_sql.quote(scratch)}, public")
            for table in ordered_by_references(list(state.tables.values())):
                for statement in _sql.create_table(table):
                    try:
                        await conn.execute(statement)
                    except asyncpg.PostgresError as exc:
                        raise _Unbuildable(statement, exc) from exc
            expected = await _introspect(conn, scratch)
            raise _Rollback
    except _Rollback:
        pass
    except _Unbuildable as exc:
        return [
            f"The schema of the applied migrations cannot be rebuilt for comparison: "
            f"{type(exc.error).__name__}: {exc.error} (in `{exc.statement}`); a missing "
            "extension is the usual cause: install it in the database and run again"
        ]
    live = await _introspect(conn, schema)
    problems: list[str] = []

    installed = {r["extname"] for r in await conn.fetch("SELECT extname FROM pg_extension")}
    problems.extend(
        f"Extension `{name}` is not installed (the migrations create it)"
        for name in state.extensions
        if name not in installed
    )
    problems.extend(
        f"Extension `{name}` is installed but no migration creates it"
        for name in sorted(installed - set(state.extensions) - {"plpgsql"})
    )
    for name in sorted(set(expected["tables"]) | set(live["tables"])):
        want, have = expected["tables"].get(name), live["tables"].get(name)
        if have is None:
            problems.append(f"Table `{name}` is missing from the database")
            continue
        if want is None:
            problems.append(f"Table `{name}` exists in the database but in no migration")
            continue
        if want["unlogged"] != have["unlogged"]:
            problems.append(
                f"Table `{name}` is {'UNLOGGED' if have['unlogged'] else 'LOGGED'} in the "
                f"database, {'UNLOGGED' if want['unlogged'] else 'LOGGED'} in the migrations"
            )
        for column in sorted(set(want["columns"]) | set(have["columns"])):
            w, h = want["columns"].get(column), have["columns"].get(column)
            if h is None:
                problems.append(f"Column `{name}.{column}` is missing from the database")
            elif w is None:
                problems.append(
                    f"Column `{name}.{column}` exists in the database but in no migration"
                )
            else:
                problems.extend(
                    f"Column `{name}.{column}`: {key} is `{h[key]}` in the database, "
                    f"`{w[key]}` in the migrations"
                    for key in w
                    if w[key] != h[key]
                )
    for kind in ("constraints", "indexes"):
        label = kind[:-1] if kind == "constraints" else "index"
        for key in sorted(set(expected[kind]) | set(live[kind])):
            table, item = key
            if table not in expected["tables"] or table not in live["tables"]:
                continue
            w, h = expected[kind].get(key), live[kind].get(key)
            if h is None:
                problems.append(f"{label.capitalize()} `{item}` on `{table}` is missing: `{w}`")
            elif w is None:
                problems.append(
                    f"{label.capitalize()} `{item}` on `{table}` exists in the database but in "
                    f"no migration: `{h}`"
                )
            elif w != h:
                problems.append(
                    f"{label.capitalize()} `{item}` on `{table}` differs: `{h}` in the database, "
                    f"`{w}` in the migrations"
                )
    return problems
