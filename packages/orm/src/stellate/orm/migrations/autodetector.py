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
    ConstraintState,
    IndexState,
    ProjectState,
    TableState,
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
    old_tables = dict(old.tables)

    # Table renames first, so the column diff below compares the right tables.
    for table in new.tables.values():
        source = table.renamed_from
        if source is None or table.name in old_tables or source not in old_tables:
            if source is not None and table.name not in old_tables and source not in old_tables:
                raise AutodetectorError(
                    f"Table `{table.name}` says `renamed_from={source!r}`, but the migrations "
                    f"have no table `{source}`: remove the hint or fix the old name"
                )
            continue
        operations.append(ops.RenameTable(table=source, new_name=table.name))
        renamed = old_tables.pop(source)
        old_tables[table.name] = TableState(
            name=table.name,
            columns=renamed.columns,
            indexes=renamed.indexes,
            constraints=renamed.constraints,
            unlogged=renamed.unlogged,
        )

    created = [t for name, t in new.tables.items() if name not in old_tables]
    operations.extend(ops.CreateTable(table=t.without_hints()) for t in _by_dependency(created))

    for name, table in new.tables.items():
        if name in old_tables:
            operations.extend(_diff_table(old_tables[name], table))

    dropped = [t for name, t in old_tables.items() if name not in new.tables]
    operations.extend(ops.DropTable(table=t.name) for t in reversed(_by_dependency(dropped)))
    operations.extend(
        ops.DropExtension(name=name) for name in old.extensions if name not in new.extensions
    )
    return operations


def _diff_table(old: TableState, new: TableState) -> list[ops.Operation]:
    result: list[ops.Operation] = []
    name = new.name
    old_columns = {c.name: c for c in old.columns}

    for column in new.columns:
        source = column.renamed_from
        if source is None or column.name in old_columns:
            continue
        if source not in old_columns:
            raise AutodetectorError(
                f"Column `{name}.{column.name}` says `renamed_from={source!r}`, but the "
                f"migrations have no column `{name}.{source}`: remove the hint or fix the old name"
            )
        result.append(ops.RenameColumn(table=name, name=source, new_name=column.name))
        old_columns[column.name] = _renamed(old_columns.pop(source), column.name)

    new_names = {c.name for c in new.columns}
    new_indexes = {i.name: i for i in new.indexes}
    new_constraints = {c.name: c for c in new.constraints}
    for constraint in old.constraints:
        if new_constraints.get(constraint.name) != _renamed_constraint(constraint, old, new):
            result.append(ops.DropConstraint(table=name, name=constraint.name))
    for index in old.indexes:
        if new_indexes.get(index.name) != _renamed_index(index, old, new):
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
    for index in new.indexes:
        previous = old_indexes.get(index.name)
        if previous is None or _renamed_index(previous, old, new) != index:
            result.append(ops.AddIndex(table=name, index=index))
    for constraint in new.constraints:
        previous_c = old_constraints.get(constraint.name)
        if previous_c is None or _renamed_constraint(previous_c, old, new) != constraint:
            result.append(ops.AddConstraint(table=name, constraint=constraint))
    if old.unlogged != new.unlogged:
        mode = "UNLOGGED" if new.unlogged else "LOGGED"
        result.append(
            ops.RunSQL(
                sql=f"ALTER TABLE {_sql.quote(name)} SET {mode}",
                reverse=f"ALTER TABLE {_sql.quote(name)} SET "
                + ("LOGGED" if new.unlogged else "UNLOGGED"),
            )
        )
    return result


def _column_renames(old: TableState, new: TableState) -> dict[str, str]:
    old_names = {c.name for c in old.columns}
    return {
        c.renamed_from: c.name
        for c in new.columns
        if c.renamed_from is not None and c.name not in old_names
    }


def _renamed_index(index: IndexState, old: TableState, new: TableState) -> IndexState:
    renames = _column_renames(old, new)
    if not renames:
        return index
    return IndexState(
        name=index.name,
        columns=[renames.get(c, c) for c in index.columns],
        unique=index.unique,
        method=index.method,
        opclass=index.opclass,
        condition=index.condition,
        include=[renames.get(c, c) for c in index.include],
    )


def _renamed_constraint(
    constraint: ConstraintState, old: TableState, new: TableState
) -> ConstraintState:
    renames = _column_renames(old, new)
    if not renames:
        return constraint
    return ConstraintState(
        name=constraint.name,
        kind=constraint.kind,
        check=constraint.check,
        columns=[renames.get(c, c) for c in constraint.columns],
        condition=constraint.condition,
    )


def _renamed(column: ColumnState, name: str) -> ColumnState:
    return ColumnState(
        name=name,
        type=column.type,
        null=column.null,
        default=column.default,
        primary_key=column.primary_key,
        identity=column.identity,
        unique=column.unique,
        foreign_key=column.foreign_key,
    )


def _same_column(a: ColumnState, b: ColumnState) -> bool:
    return (
        _sql.normalize_type(a.type) == _sql.normalize_type(b.type)
        and a.null == b.null
        and a.default == b.default
        and a.primary_key == b.primary_key
        and a.identity == b.identity
        and a.unique == b.unique
        and a.foreign_key == b.foreign_key
    )


def _by_dependency(tables: list[TableState]) -> list[TableState]:
    """Tables ordered so a referenced table comes before the tables referencing it."""
    names = {t.name for t in tables}
    ordered: list[TableState] = []
    placed: set[str] = set()
    pending = sorted(tables, key=lambda t: t.name)
    while pending:
        progress = False
        for table in list(pending):
            needs = {
                c.foreign_key.table
                for c in table.columns
                if c.foreign_key is not None
                and c.foreign_key.table in names
                and c.foreign_key.table != table.name
            }
            if needs <= placed:
                ordered.append(table)
                placed.add(table.name)
                pending.remove(table)
                progress = True
        if not progress:
            # A reference cycle: keep going in name order; PostgreSQL will name the
            # missing table and the fix is a hand-edited AddColumn after both exist.
            ordered.extend(pending)
            break
    return ordered


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
