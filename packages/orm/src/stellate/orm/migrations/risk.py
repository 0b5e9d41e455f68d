"""Warnings for operations that lock or rewrite big tables, or lose data.

Sizes come from PostgreSQL's own row estimates (``pg_class.reltuples``, kept by
autovacuum/ANALYZE), so the check costs one catalog query per table. A table never
analyzed has no estimate (-1); for those, rows are counted up to the threshold
only, which bounds the cost to "is it big?".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

from stellate.orm.migrations import _sql
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.state import ProjectState

if TYPE_CHECKING:
    import asyncpg

__all__ = ["DEFAULT_LARGE_TABLE_ROWS", "Risk", "assess", "planned_operations", "row_estimates"]

#: Tables with at least this many (estimated) rows count as large.
DEFAULT_LARGE_TABLE_ROWS = 100_000

_VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval)\s*\(",
    re.IGNORECASE,
)


class Risk(msgspec.Struct, frozen=True):
    """One warning about one operation.

    Attributes:
        migration: the migration name (empty before the file is written).
        operation: the operation's description.
        message: what happens and what to do instead.
    """

    migration: str
    operation: str
    message: str

    def __str__(self) -> str:
        where = f"{self.migration}: " if self.migration else ""
        return f"WARNING {where}{self.operation}: {self.message}"


def planned_operations(
    state: ProjectState, operations: Iterable[ops.Operation]
) -> list[tuple[ops.Operation, ProjectState]]:
    """Pair each operation with the state it runs against (the state before it)."""
    pairs = []
    current = state.clone()
    for operation in operations:
        pairs.append((operation, current.clone()))
        operation.state_forwards(current)
    return pairs


async def row_estimates(
    connection: asyncpg.Connection, tables: Iterable[str], *, large_table_rows: int
) -> dict[str, int | None]:
    """Estimated rows of each existing table (``None`` when the table does not exist)."""
    result: dict[str, int | None] = {}
    for table in sorted(set(tables)):
        estimate = await connection.fetchval(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
            _sql.quote(table),
        )
        if estimate is not None and estimate < 0:
            # Never analyzed: count, but never past the threshold.
            estimate = await connection.fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {_sql.quote(table)} LIMIT $1) AS t",
                large_table_rows,
            )
        result[table] = None if estimate is None else int(estimate)
    return result


def assess(
    planned: Sequence[tuple[ops.Operation, ProjectState]],
    rows: dict[str, int | None],
    *,
    migration: str = "",
    large_table_rows: int = DEFAULT_LARGE_TABLE_ROWS,
) -> list[Risk]:
    """The risks of running ``planned`` against tables of the given sizes.

    Args:
        planned: operations with the state before each (see :func:`planned_operations`).
        rows: estimated rows per table; a table missing from it is treated as unknown
            (data-loss warnings still apply, size-based ones do not).
        migration: the migration name, for the messages.
        large_table_rows: the size from which locks and rewrites are worth a warning.
    """
    risks: list[Risk] = []
    created: set[str] = set()

    def add(operation: ops.Operation, message: str) -> None:
        risks.append(Risk(migration, operation.describe(), message))

    for operation, state in planned:
        if isinstance(operation, ops.CreateTable):
            created.add(operation.table.name)
            continue
        table = operation.table_name
        if table is None or table in created:
            continue
        count = rows.get(table)
        size = f"~{count:,} rows" if count is not None else "unknown size"
        large = count is not None and count >= large_table_rows
        if isinstance(operation, ops.DropTable):
            add(operation, f"drops table `{table}` ({size}) and all its data")
        elif isinstance(operation, ops.DropColumn):
            add(operation, f"deletes the data of column `{operation.name}` ({size})")
        elif isinstance(operation, ops.AddColumn):
            column = operation.column
            if not column.null and column.default is None and not column.identity and count != 0:
                add(
                    operation,
                    f"adds NOT NULL column `{column.name}` without a default to `{table}` "
                    f"({size}): it fails if the table has rows. Add it nullable (or with "
                    "`db_default`), backfill, then make it NOT NULL in a later migration",
                )
            elif large and column.default is not None and _VOLATILE.search(column.default):
                add(
                    operation,
                    f"volatile default `{column.default}` rewrites `{table}` ({size}) under an "
                    "ACCESS EXCLUSIVE lock: add the column without it and backfill in batches",
                )
            elif large and column.identity:
                add(operation, f"an identity column rewrites `{table}` ({size}) under lock")
            if large and (column.unique or column.foreign_key is not None):
                add(
                    operation,
                    f"builds a constraint on `{table}` ({size}) while holding a lock",
                )
        elif isinstance(operation, ops.AlterColumn):
            old = state.table(table).column(operation.column.name)
            new = operation.column
            if _sql.normalize_type(old.type) != _sql.normalize_type(new.type):
                add(
                    operation,
                    f"changes type `{old.type}` -> `{new.type}`: may rewrite `{table}` ({size}) "
                    "under an ACCESS EXCLUSIVE lock and fails on values that do not convert",
                )
            if old.null and not new.null and (large or count is None):
                add(
                    operation,
                    f"SET NOT NULL scans `{table}` ({size}) under an ACCESS EXCLUSIVE lock: add "
                    "a `CHECK (col IS NOT NULL) NOT VALID` constraint and VALIDATE it first",
                )
            if large and (
                (new.unique and not old.unique)
                or (new.foreign_key is not None and new.foreign_key != old.foreign_key)
            ):
                add(operation, f"builds a constraint on `{table}` ({size}) while holding a lock")
        elif isinstance(operation, ops.AddIndex) and large and not operation.concurrently:
            add(
                operation,
                f"CREATE INDEX blocks writes to `{table}` ({size}) until it finishes: "
                "run `stellate migrate --concurrently-indexes`",
            )
        elif isinstance(operation, ops.AddConstraint) and large:
            add(
                operation,
                f"validates every row of `{table}` ({size}) while holding a lock",
            )
        elif isinstance(operation, ops.SetUnlogged) and large:
            add(operation, f"rewrites `{table}` ({size}) under an ACCESS EXCLUSIVE lock")
        elif isinstance(operation, ops.RenameTable | ops.RenameColumn):
            add(
                operation,
                "code still using the old name fails from the moment this runs until the "
                "new code is deployed",
            )
    return risks
