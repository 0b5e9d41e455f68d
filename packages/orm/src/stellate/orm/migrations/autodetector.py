"""Diffing two states into operations.

Renames are never guessed: a table or column counts as renamed only when the new
state says so (``Meta.renamed_from`` / ``Field(renamed_from=...)``). Without that
hint, a name that disappears and a name that appears are a drop and an add, so CI
never stops on a question and a reviewer sees the data loss in the file.
"""

from __future__ import annotations

from stellate.orm.migrations import _sql
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.state import (
    ColumnState,
    ProjectState,
    TableState,
    ordered_by_references,
)

__all__ = ["AutodetectorError", "detect_changes", "suggest_name"]


class AutodetectorError(Exception):
    """The models ask for a change the autodetector cannot express."""


def detect_changes(old: ProjectState, new: ProjectState) -> list[ops.Operation]:
    """The operations that turn schema ``old`` into schema ``new``.

    Raises:
        AutodetectorError: for an impossible rename hint or a primary-key change.
    """
    operations: list[ops.Operation] = [
        ops.CreateExtension(name=name) for name in new.extensions if name not in old.extensions
    ]
    # Renames run first and move a working copy of the old state, so references,
    # indexes and constraints follow them and the diff below compares like with like.
    working = old.clone()
    for table in new.tables.values():
        source = table.renamed_from
        if source is None or table.name in working.tables:
            continue
        if source not in working.tables:
            raise AutodetectorError(
                f"Table `{table.name}` says `renamed_from={source!r}`, but the migrations "
                f"have no table `{source}`: remove the hint or fix the old name"
            )
        rename: ops.Operation = ops.RenameTable(table=source, new_name=table.name)
        rename.state_forwards(working)
        operations.append(rename)
    for table in new.tables.values():
        if table.name not in working.tables:
            continue
        existing = working.tables[table.name]
        for column in table.columns:
            source = column.renamed_from
            if source is None or existing.has_column(column.name):
                continue
            if not existing.has_column(source):
                raise AutodetectorError(
                    f"Column `{table.name}.{column.name}` says `renamed_from={source!r}`, but "
                    f"the migrations have no column `{table.name}.{source}`: remove the hint or "
                    "fix the old name"
                )
            rename = ops.RenameColumn(table=table.name, name=source, new_name=column.name)
            rename.state_forwards(working)
            operations.append(rename)

    # A materialized view whose SELECT or columns change is dropped and created again
    # (PostgreSQL cannot alter either); views are dropped before and created after the
    # tables, since their SELECT reads them.
    rebuilt = [
        name
        for name, table in new.tables.items()
        if name in working.tables and _view_changed(working.tables[name], table)
    ]
    operations.extend(ops.DropTable(table=name) for name in rebuilt)
    dropped = [t for name, t in working.tables.items() if name not in new.tables]
    operations.extend(
        ops.DropTable(table=t.name) for t in dropped if t.materialized_view is not None
    )
    created = [t for name, t in new.tables.items() if name not in working.tables or name in rebuilt]
    operations.extend(
        ops.CreateTable(table=t.without_hints())
        for t in ordered_by_references(created)
        if t.materialized_view is None
    )

    for name, table in new.tables.items():
        if name in working.tables and name not in rebuilt:
            operations.extend(_diff_table(working.tables[name], table))

    operations.extend(
        ops.CreateTable(table=t.without_hints()) for t in created if t.materialized_view is not None
    )
    operations.extend(
        ops.DropTable(table=t.name)
        for t in reversed(ordered_by_references(dropped))
        if t.materialized_view is None
    )
    operations.extend(
        ops.DropExtension(name=name) for name in old.extensions if name not in new.extensions
    )
    return operations


def _view_changed(old: TableState, new: TableState) -> bool:
    if old.materialized_view is None and new.materialized_view is None:
        return False
    return old.materialized_view != new.materialized_view or [
        c.without_hints() for c in old.columns
    ] != [c.without_hints() for c in new.columns]


def _diff_table(old: TableState, new: TableState) -> list[ops.Operation]:
    result: list[ops.Operation] = []
    name = new.name
    old_columns = {c.name: c for c in old.columns}
    new_names = {c.name for c in new.columns}
    new_indexes = {i.name: i for i in new.indexes}
    new_constraints = {c.name: c for c in new.constraints}
    for constraint in old.constraints:
        if new_constraints.get(constraint.name) != constraint:
            result.append(ops.DropConstraint(table=name, name=constraint.name))
    for index in old.indexes:
        if new_indexes.get(index.name) != index:
            result.append(ops.DropIndex(table=name, name=index.name))

    for column in new.columns:
        if column.name not in old_columns:
            if column.primary_key:
                raise AutodetectorError(
                    f"Column `{name}.{column.name}` would be a new primary-key column: write "
                    "the primary-key change as a RunSQL migration (`makemigrations --empty`)"
                )
            result.append(ops.AddColumn(table=name, column=column.without_hints()))
            continue
        before = old_columns[column.name]
        after = column.without_hints()
        if _same_column(before, after):
            continue
        if before.primary_key != after.primary_key:
            raise AutodetectorError(
                f"Column `{name}.{column.name}` changes `primary_key`: write the primary-key "
                "change as a RunSQL migration (`makemigrations --empty`)"
            )
        result.append(ops.AlterColumn(table=name, column=after))

    result.extend(
        ops.DropColumn(table=name, name=column) for column in old_columns if column not in new_names
    )

    old_indexes = {i.name: i for i in old.indexes}
    old_constraints = {c.name: c for c in old.constraints}
    result.extend(
        ops.AddIndex(table=name, index=index)
        for index in new.indexes
        if old_indexes.get(index.name) != index
    )
    result.extend(
        ops.AddConstraint(table=name, constraint=constraint)
        for constraint in new.constraints
        if old_constraints.get(constraint.name) != constraint
    )
    if old.unlogged != new.unlogged:
        result.append(ops.SetUnlogged(table=name, unlogged=new.unlogged))
    return result


def _same_column(a: ColumnState, b: ColumnState) -> bool:
    return (
        _sql.normalize_type(a.type) == _sql.normalize_type(b.type)
        and a.null == b.null
        and a.default == b.default
        and a.primary_key == b.primary_key
        and a.identity == b.identity
        and a.unique == b.unique
        and a.foreign_key == b.foreign_key
        and a.generated == b.generated
    )


def suggest_name(operations: list[ops.Operation]) -> str:
    """A short file-name suffix describing ``operations`` (``create_books``, ``auto``)."""
    if not operations:
        return "empty"
    first = operations[0]
    if len(operations) == 1 or all(type(op) is type(first) for op in operations):
        parts = {
            ops.CreateTable: "create",
            ops.DropTable: "drop",
            ops.AddColumn: "add",
            ops.DropColumn: "remove",
            ops.AlterColumn: "alter",
            ops.RenameColumn: "rename",
            ops.RenameTable: "rename",
            ops.AddIndex: "add_index",
            ops.AddConstraint: "add_constraint",
        }
        verb = parts.get(type(first))
        if verb is not None:
            subjects = []
            for op in operations[:3]:
                if isinstance(op, ops.AddColumn | ops.AlterColumn):
                    subjects.append(f"{_sql.short(op.table)}_{op.column.name}")
                elif isinstance(op, ops.DropColumn):
                    subjects.append(f"{_sql.short(op.table)}_{op.name}")
                elif op.table_name is not None:
                    subjects.append(_sql.short(op.table_name))
            return f"{verb}_{'_'.join(subjects)}"[:60]
    return "auto"
