"""Migration operations: each knows its forward SQL, its reverse, and its effect on the state.

Every operation is a msgspec Struct, so a migration file is a readable list of
constructor calls and two operations compare by value. ``forward_sql(state)`` and
``reverse_sql(state)`` both receive the state *before* the operation runs forward:
the reverse of ``DropColumn`` rebuilds the column from it.
"""

from __future__ import annotations

import re

import msgspec

from stellate.orm.migrations import _sql
from stellate.orm.migrations._base import IrreversibleError, MigrationContext, Operation
from stellate.orm.migrations._custom import RunPython, RunSQL
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    IndexState,
    ProjectState,
    StateError,
    TableState,
)

__all__ = [
    "AddColumn",
    "AddConstraint",
    "AddIndex",
    "AlterColumn",
    "CreateExtension",
    "CreateTable",
    "DropColumn",
    "DropConstraint",
    "DropExtension",
    "DropIndex",
    "DropTable",
    "IrreversibleError",
    "MigrationContext",
    "Operation",
    "RenameColumn",
    "RenameTable",
    "RunPython",
    "RunSQL",
    "SetUnlogged",
]


class CreateTable(Operation, tag=True):
    """Create a table with its columns, constraints and indexes."""

    table: TableState

    @property
    def table_name(self) -> str:
        return self.table.name

    def state_forwards(self, state: ProjectState) -> None:
        if self.table.name in state.tables:
            raise StateError(f"Table `{self.table.name}` already exists")
        state.tables[self.table.name] = self.table.without_hints()

    def forward_sql(self, state: ProjectState) -> list[str]:
        return _sql.create_table(self.table)

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_table(self.table, self.table.name)]

    def describe(self) -> str:
        kind = "materialized view" if self.table.materialized_view is not None else "table"
        return f"Create {kind} `{self.table.name}`"


class DropTable(Operation, tag=True):
    """Drop a table (its data is lost; the reverse recreates it empty)."""

    table: str

    def state_forwards(self, state: ProjectState) -> None:
        state.table(self.table)
        del state.tables[self.table]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_table(state.tables.get(self.table), self.table)]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return _sql.create_table(state.table(self.table))

    def describe(self) -> str:
        return f"Drop table `{self.table}`"


class RenameTable(Operation, tag=True):
    """Rename a table, keeping the derived constraint names in step."""

    table: str
    new_name: str

    def state_forwards(self, state: ProjectState) -> None:
        old = state.table(self.table)
        if self.new_name in state.tables:
            raise StateError(f"Cannot rename `{self.table}`: table `{self.new_name}` exists")
        del state.tables[self.table]
        old.name = self.new_name
        state.tables[self.new_name] = old
        for other in state.tables.values():
            other.columns = [
                msgspec.structs.replace(
                    column,
                    foreign_key=msgspec.structs.replace(column.foreign_key, table=self.new_name),
                )
                if column.foreign_key is not None and column.foreign_key.table == self.table
                else column
                for column in other.columns
            ]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return _rename_table_sql(state.table(self.table), self.table, self.new_name)

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return _rename_table_sql(state.table(self.table), self.new_name, self.table)

    def describe(self) -> str:
        return f"Rename table `{self.table}` to `{self.new_name}`"


def _rename_table_sql(table: TableState, old: str, new: str) -> list[str]:
    statements = [f"ALTER TABLE {_sql.quote(old)} RENAME TO {_sql.quote(_sql.short(new))}"]
    renames: list[tuple[str, str]] = []
    if table.primary_key:
        renames.append((_sql.pkey_name(old), _sql.pkey_name(new)))
    for column in table.columns:
        if column.unique:
            renames.append((_sql.unique_name(old, column.name), _sql.unique_name(new, column.name)))
        if column.foreign_key is not None:
            renames.append((_sql.fkey_name(old, column.name), _sql.fkey_name(new, column.name)))
    statements.extend(
        f"ALTER TABLE {_sql.quote(new)} RENAME CONSTRAINT {_sql.quote(a)} TO {_sql.quote(b)}"
        for a, b in renames
    )
    return statements


class SetUnlogged(Operation, tag=True):
    """Switch a table between UNLOGGED (no WAL, emptied after a crash) and LOGGED.

    Both directions rewrite the table under an ACCESS EXCLUSIVE lock.
    """

    table: str
    unlogged: bool

    def state_forwards(self, state: ProjectState) -> None:
        state.table(self.table).unlogged = self.unlogged

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_set_logged(self.table, unlogged=self.unlogged)]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [_set_logged(self.table, unlogged=state.table(self.table).unlogged)]

    def describe(self) -> str:
        return f"Make table `{self.table}` {'UNLOGGED' if self.unlogged else 'LOGGED'}"


def _set_logged(table: str, *, unlogged: bool) -> str:
    return f"ALTER TABLE {_sql.quote(table)} SET {'UNLOGGED' if unlogged else 'LOGGED'}"


class AddColumn(Operation, tag=True):
    """Add a column."""

    table: str
    column: ColumnState

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        if table.has_column(self.column.name):
            raise StateError(f"Table `{self.table}` already has a column `{self.column.name}`")
        if self.column.primary_key:
            raise StateError(
                f"AddColumn `{self.table}.{self.column.name}` cannot add a primary key column: "
                "write a RunSQL operation for primary-key changes"
            )
        table.columns.append(self.column.without_hints())

    def forward_sql(self, state: ProjectState) -> list[str]:
        definition = _sql.column_definition(self.table, self.column)
        return [f"ALTER TABLE {_sql.quote(self.table)} ADD COLUMN {definition}"]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [f"ALTER TABLE {_sql.quote(self.table)} DROP COLUMN {_sql.quote(self.column.name)}"]

    def describe(self) -> str:
        return f"Add column `{self.column.name}` to `{self.table}`"


class DropColumn(Operation, tag=True):
    """Drop a column (its data is lost; the reverse re-adds it from the prior state)."""

    table: str
    name: str

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        table.column(self.name)
        table.columns = [c for c in table.columns if c.name != self.name]
        table.indexes = [i for i in table.indexes if not _index_involves(i, self.name)]
        table.constraints = [c for c in table.constraints if not _constraint_involves(c, self.name)]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [f"ALTER TABLE {_sql.quote(self.table)} DROP COLUMN {_sql.quote(self.name)}"]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        table = state.table(self.table)
        column = table.column(self.name)
        statements = [
            f"ALTER TABLE {_sql.quote(self.table)} ADD COLUMN "
            + _sql.column_definition(self.table, column)
        ]
        # PostgreSQL dropped the indexes and constraints on the column with it.
        statements.extend(
            _sql.add_constraint(self.table, c)
            for c in table.constraints
            if _constraint_involves(c, self.name)
        )
        statements.extend(
            _sql.create_index(self.table, i) for i in table.indexes if _index_involves(i, self.name)
        )
        return statements

    def describe(self) -> str:
        return f"Drop column `{self.name}` from `{self.table}`"


class AlterColumn(Operation, tag=True):
    """Change a column's type, nullability, default, uniqueness, identity or reference.

    Attributes:
        table: the table.
        column: the column's new definition (its name selects the column).
        using: a SQL expression converting old values for a type change
            (default: a plain cast ``"column"::newtype``).
    """

    table: str
    column: ColumnState
    using: str | None = None

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        old = table.column(self.column.name)
        if old.primary_key != self.column.primary_key:
            raise StateError(
                f"AlterColumn `{self.table}.{self.column.name}` changes the primary key: "
                "write a RunSQL operation for primary-key changes"
            )
        table.columns = [
            self.column.without_hints() if c.name == old.name else c for c in table.columns
        ]

    def forward_sql(self, state: ProjectState) -> list[str]:
        old = state.table(self.table).column(self.column.name)
        if old.generated != self.column.generated:
            return _regenerate(state.table(self.table), self.column)
        return _sql.alter_column(self.table, old, self.column, self.using)

    def reverse_sql(self, state: ProjectState) -> list[str]:
        old = state.table(self.table).column(self.column.name)
        if old.generated != self.column.generated:
            return _regenerate(state.table(self.table), old)
        return _sql.alter_column(self.table, self.column, old, None)

    def describe(self) -> str:
        return f"Alter column `{self.column.name}` of `{self.table}`"


def _regenerate(table: TableState, column: ColumnState) -> list[str]:
    """Drop and re-add a column whose generation expression changes.

    PostgreSQL before 17 cannot change the expression in place. A generated column's
    values are recomputed from the row, so nothing is lost unless the column turns
    from a plain one into a generated one; its indexes are rebuilt after the add.
    """
    name = _sql.quote(table.name)
    statements = [
        f"ALTER TABLE {name} DROP COLUMN {_sql.quote(column.name)}",
        f"ALTER TABLE {name} ADD COLUMN {_sql.column_definition(table.name, column)}",
    ]
    statements.extend(
        _sql.create_index(table.name, index)
        for index in table.indexes
        if _index_involves(index, column.name)
    )
    return statements


class RenameColumn(Operation, tag=True):
    """Rename a column, keeping its derived constraint names in step."""

    table: str
    name: str
    new_name: str

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        table.column(self.name)
        if table.has_column(self.new_name):
            raise StateError(f"Table `{self.table}` already has a column `{self.new_name}`")

        def rename(names: list[str]) -> list[str]:
            renamed = {self.name: self.new_name, f"-{self.name}": f"-{self.new_name}"}
            return [renamed.get(n, n) for n in names]

        table.columns = [
            msgspec.structs.replace(c, name=self.new_name) if c.name == self.name else c
            for c in table.columns
        ]
        table.indexes = [
            msgspec.structs.replace(
                i,
                columns=rename(i.columns),
                include=rename(i.include),
                condition=_rename_in(i.condition, self.name, self.new_name),
            )
            for i in table.indexes
        ]
        table.constraints = [
            msgspec.structs.replace(
                c,
                columns=rename(c.columns),
                check=_rename_in(c.check, self.name, self.new_name),
                condition=_rename_in(c.condition, self.name, self.new_name),
            )
            for c in table.constraints
        ]
        for other in state.tables.values():
            other.columns = [
                msgspec.structs.replace(
                    c, foreign_key=msgspec.structs.replace(c.foreign_key, column=self.new_name)
                )
                if c.foreign_key is not None
                and c.foreign_key.table == self.table
                and c.foreign_key.column == self.name
                else c
                for c in other.columns
            ]

    def forward_sql(self, state: ProjectState) -> list[str]:
        column = state.table(self.table).column(self.name)
        return _rename_column_sql(self.table, column, self.name, self.new_name)

    def reverse_sql(self, state: ProjectState) -> list[str]:
        column = state.table(self.table).column(self.name)
        return _rename_column_sql(self.table, column, self.new_name, self.name)

    def describe(self) -> str:
        return f"Rename column `{self.table}.{self.name}` to `{self.new_name}`"


def _rename_column_sql(table: str, column: ColumnState, old: str, new: str) -> list[str]:
    t = _sql.quote(table)
    statements = [f"ALTER TABLE {t} RENAME COLUMN {_sql.quote(old)} TO {_sql.quote(new)}"]
    pairs: list[tuple[str, str]] = []
    if column.unique:
        pairs.append((_sql.unique_name(table, old), _sql.unique_name(table, new)))
    if column.foreign_key is not None:
        pairs.append((_sql.fkey_name(table, old), _sql.fkey_name(table, new)))
    statements.extend(
        f"ALTER TABLE {t} RENAME CONSTRAINT {_sql.quote(a)} TO {_sql.quote(b)}" for a, b in pairs
    )
    return statements


class AddIndex(Operation, tag=True):
    """Create an index; ``concurrently`` builds it without blocking writes (no transaction)."""

    table: str
    index: IndexState
    concurrently: bool = False

    @property
    def transactional(self) -> bool:
        return not self.concurrently

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        if any(i.name == self.index.name for i in table.indexes):
            raise StateError(f"Table `{self.table}` already has an index `{self.index.name}`")
        table.indexes.append(self.index)

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_sql.create_index(self.table, self.index, concurrently=self.concurrently)]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_index(self.index.name, concurrently=self.concurrently)]

    def describe(self) -> str:
        how = " concurrently" if self.concurrently else ""
        return f"Create index `{self.index.name}` on `{self.table}`{how}"


class DropIndex(Operation, tag=True):
    """Drop an index (the reverse recreates it from the prior state)."""

    table: str
    name: str
    concurrently: bool = False

    @property
    def transactional(self) -> bool:
        return not self.concurrently

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        table.index(self.name)
        table.indexes = [i for i in table.indexes if i.name != self.name]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_index(self.name, concurrently=self.concurrently)]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        index = state.table(self.table).index(self.name)
        return [_sql.create_index(self.table, index, concurrently=self.concurrently)]

    def describe(self) -> str:
        return f"Drop index `{self.name}` from `{self.table}`"


class AddConstraint(Operation, tag=True):
    """Add a check or unique constraint."""

    table: str
    constraint: ConstraintState

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        if any(c.name == self.constraint.name for c in table.constraints):
            raise StateError(
                f"Table `{self.table}` already has a constraint `{self.constraint.name}`"
            )
        table.constraints.append(self.constraint)

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_sql.add_constraint(self.table, self.constraint)]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_constraint(self.table, self.constraint)]

    def describe(self) -> str:
        return f"Add constraint `{self.constraint.name}` to `{self.table}`"


class DropConstraint(Operation, tag=True):
    """Drop a check or unique constraint (the reverse re-adds it from the prior state)."""

    table: str
    name: str

    def state_forwards(self, state: ProjectState) -> None:
        table = state.table(self.table)
        table.constraint(self.name)
        table.constraints = [c for c in table.constraints if c.name != self.name]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [_sql.drop_constraint(self.table, state.table(self.table).constraint(self.name))]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [_sql.add_constraint(self.table, state.table(self.table).constraint(self.name))]

    def describe(self) -> str:
        return f"Drop constraint `{self.name}` from `{self.table}`"


class CreateExtension(Operation, tag=True):
    """Enable a PostgreSQL extension (``pg_trgm``, ``vector`` ...)."""

    name: str

    def state_forwards(self, state: ProjectState) -> None:
        if self.name not in state.extensions:
            state.extensions = sorted([*state.extensions, self.name])

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [
            _sql.require_extension(self.name),
            f"CREATE EXTENSION IF NOT EXISTS {_sql.quote(self.name)}",
        ]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [f"DROP EXTENSION IF EXISTS {_sql.quote(self.name)}"]

    def describe(self) -> str:
        return f"Create extension `{self.name}`"


class DropExtension(Operation, tag=True):
    """Disable a PostgreSQL extension."""

    name: str

    def state_forwards(self, state: ProjectState) -> None:
        state.extensions = [e for e in state.extensions if e != self.name]

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [f"DROP EXTENSION IF EXISTS {_sql.quote(self.name)}"]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        return [
            _sql.require_extension(self.name),
            f"CREATE EXTENSION IF NOT EXISTS {_sql.quote(self.name)}",
        ]

    def describe(self) -> str:
        return f"Drop extension `{self.name}`"


def _word(column: str) -> re.Pattern[str]:
    # The column as an identifier, bare or double-quoted, not part of a longer name.
    return re.compile(rf'(?<![\w."])"?{re.escape(column)}"?(?![\w"])')


def _mentions(expression: str | None, column: str) -> bool:
    return expression is not None and _word(column).search(expression) is not None


def _rename_in(expression: str | None, old: str, new: str) -> str | None:
    if expression is None:
        return None
    plain = new.isidentifier() and new == new.lower()
    return _word(old).sub(new if plain else _sql.quote(new), expression)


def _index_involves(index: IndexState, column: str) -> bool:
    """Whether PostgreSQL drops ``index`` together with ``column``."""
    return (
        column in index.columns
        or f"-{column}" in index.columns
        or column in index.include
        or _mentions(index.condition, column)
    )


def _constraint_involves(constraint: ConstraintState, column: str) -> bool:
    """Whether PostgreSQL drops ``constraint`` together with ``column``."""
    return (
        column in constraint.columns
        or _mentions(constraint.check, column)
        or _mentions(constraint.condition, column)
    )
