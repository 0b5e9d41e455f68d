"""Schema migrations: state, operations, autodetector, files, executor and commands.

See the package README ("Migrations") for the file format and the workflow.
"""

from __future__ import annotations

from stellate.orm.migrations.autodetector import AutodetectorError, detect_changes
from stellate.orm.migrations.executor import (
    MigrateResult,
    MigrationError,
    MigrationExecutor,
    MigrationLockTimeout,
)
from stellate.orm.migrations.loader import (
    Migration,
    MigrationFileError,
    MigrationHistory,
    load_history,
)
from stellate.orm.migrations.operations import (
    AddColumn,
    AddConstraint,
    AddIndex,
    AlterColumn,
    CreateExtension,
    CreateTable,
    DropColumn,
    DropConstraint,
    DropExtension,
    DropIndex,
    DropTable,
    IrreversibleError,
    MigrationContext,
    Operation,
    RenameColumn,
    RenameTable,
    RunPython,
    RunSQL,
    SetUnlogged,
)
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    ForeignKeyState,
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
    "AutodetectorError",
    "ColumnState",
    "ConstraintState",
    "CreateExtension",
    "CreateTable",
    "DropColumn",
    "DropConstraint",
    "DropExtension",
    "DropIndex",
    "DropTable",
    "ForeignKeyState",
    "IndexState",
    "IrreversibleError",
    "MigrateResult",
    "Migration",
    "MigrationContext",
    "MigrationError",
    "MigrationExecutor",
    "MigrationFileError",
    "MigrationHistory",
    "MigrationLockTimeout",
    "Operation",
    "ProjectState",
    "RenameColumn",
    "RenameTable",
    "RunPython",
    "RunSQL",
    "SetUnlogged",
    "StateError",
    "TableState",
    "detect_changes",
    "load_history",
]
