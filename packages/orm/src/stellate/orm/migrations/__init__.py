"""Schema migrations: state, operations, autodetector, files, executor and commands.

See the package README ("Migrations") for the file format and the workflow. Names are
imported on first use, so registering the CLI commands at app startup does not load
the migration machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "AddColumn": "operations",
    "AddConstraint": "operations",
    "AddIndex": "operations",
    "AlterColumn": "operations",
    "AutodetectorError": "autodetector",
    "ColumnState": "state",
    "ConstraintState": "state",
    "CreateExtension": "operations",
    "CreateTable": "operations",
    "DropColumn": "operations",
    "DropConstraint": "operations",
    "DropExtension": "operations",
    "DropIndex": "operations",
    "DropTable": "operations",
    "ForeignKeyState": "state",
    "IndexState": "state",
    "IrreversibleError": "operations",
    "MigrateResult": "executor",
    "Migration": "loader",
    "MigrationContext": "operations",
    "MigrationError": "executor",
    "MigrationExecutor": "executor",
    "MigrationFileError": "loader",
    "MigrationHistory": "loader",
    "MigrationLockTimeout": "executor",
    "Operation": "operations",
    "ProjectState": "state",
    "RenameColumn": "operations",
    "RenameTable": "operations",
    "RunPython": "operations",
    "RunSQL": "operations",
    "SetUnlogged": "operations",
    "StateError": "state",
    "TableState": "state",
    "detect_changes": "autodetector",
    "load_history": "loader",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
