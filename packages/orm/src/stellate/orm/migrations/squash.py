"""Squashing a range of migrations into one.

The squashed file lists the names it ``replaces``. A database that applied none of
them runs the squash; one that applied all of them treats the squash as applied;
one in the middle keeps running the originals until it has caught up. Once every
environment is past the range, delete the originals and the ``replaces`` line.

Operations are merged where it is safe: changes to a table created in the same
range fold into its ``CreateTable``, and a table created and dropped in the range
disappears. ``RunSQL`` and ``RunPython`` are barriers nothing folds across, since
their SQL may depend on the intermediate schema.
"""

from __future__ import annotations

from collections.abc import Sequence

from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.loader import Migration, MigrationFileError, MigrationHistory
from stellate.orm.migrations.state import ProjectState, StateError

__all__ = ["optimize", "squash_plan"]

_FOLDABLE = (
    ops.AddColumn,
    ops.DropColumn,
    ops.AlterColumn,
    ops.AddIndex,
    ops.DropIndex,
    ops.AddConstraint,
    ops.DropConstraint,
)


def optimize(operations: Sequence[ops.Operation]) -> list[ops.Operation]:
    """Fold operations into earlier ``CreateTable`` operations where that is safe."""
    out: list[ops.Operation] = []
    for operation in operations:
        table = operation.table_name
        position = _creation(out, table) if table is not None else None
        if position is not None and isinstance(operation, ops.DropTable):
            touched_later = any(op.table_name == table for op in out[position + 1 :])
            referenced = any(
                c.foreign_key is not None and c.foreign_key.table == table
                for op in out
                if isinstance(op, ops.CreateTable) and op.table.name != table
                for c in op.table.columns
            )
            if not touched_later and not referenced:
                del out[position]
                continue
        if position is not None and isinstance(operation, _FOLDABLE):
            creation = out[position]
            if not isinstance(creation, ops.CreateTable):  # _creation() only finds these
                raise TypeError(f"Expected CreateTable at {position}, found {creation!r}")
            scratch = ProjectState(tables={creation.table.name: creation.table.without_hints()})
            try:
                operation.state_forwards(scratch)
            except StateError:
                out.append(operation)
                continue
            folded = scratch.tables[creation.table.name]
            later = {op.table.name for op in out[position + 1 :] if isinstance(op, ops.CreateTable)}
            # A reference to a table created after this one cannot move into its CREATE.
            if not any(
                c.foreign_key is not None and c.foreign_key.table in later for c in folded.columns
            ):
                out[position] = ops.CreateTable(table=folded)
                continue
        out.append(operation)
    return out


def _creation(out: list[ops.Operation], table: str | None) -> int | None:
    for position in range(len(out) - 1, -1, -1):
        operation = out[position]
        if isinstance(operation, ops.RunSQL | ops.RunPython | ops.RenameTable):
            return None
        if isinstance(operation, ops.RenameColumn) and operation.table == table:
            return None
        if isinstance(operation, ops.CreateTable) and operation.table.name == table:
            return position
    return None


def squash_plan(
    history: MigrationHistory, end: str, start: str | None = None
) -> tuple[str, list[str], list[str], list[ops.Operation]]:
    """What squashing ``start``..``end`` produces.

    Returns:
        The new migration's name, its ``dependencies``, its ``replaces`` and its operations.

    Raises:
        MigrationFileError: for an unknown or reversed range.
    """
    chain = history.chain()
    last = history.find(end, chain)
    first = history.find(start, chain) if start is not None else 0
    if first > last:
        raise MigrationFileError(
            f"`{chain[first].name}` comes after `{chain[last].name}`: give the range "
            "earliest first (`squashmigrations START END`)"
        )
    selected: list[Migration] = chain[first : last + 1]
    if len(selected) < 2:
        raise MigrationFileError(
            f"Nothing to squash: the range `{chain[first].name}`..`{chain[last].name}` holds one "
            "migration"
        )
    replaces: list[str] = []
    for migration in selected:
        replaces.extend(migration.replaces or [migration.name])
    operations = optimize([op for m in selected for op in m.operations])
    name = f"{selected[0].number:04d}_squashed_{selected[-1].name}"
    return name, list(selected[0].dependencies), replaces, operations
