"""The state the models ask for, read from their ``_meta``.

Where models live: the modules named in ``STELLATE_MODELS`` (or ``--models``). Every
concrete, non-proxy ``Model`` subclass reachable as an attribute of one of those
modules is migrated, plus the models their foreign keys point at (a reference
needs its table). There is no global registry: the list is rebuilt from the
modules each time a command runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from stellate.core.exceptions import ImproperlyConfigured
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    ForeignKeyState,
    IndexState,
    ProjectState,
    TableState,
)

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.orm.models import Model

__all__ = ["load_models", "state_from_models"]

_SERIAL = {"SERIAL": "INTEGER", "BIGSERIAL": "BIGINT", "SMALLSERIAL": "SMALLINT"}


def load_models(modules: Sequence[str]) -> list[type[Model]]:
    """The concrete models defined in (or imported into) ``modules``.

    Raises:
        ImproperlyConfigured: a module cannot be imported, or holds no model.
    """
    from stellate.orm.models import Model

    found: dict[type[Model], None] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Cannot import models module `{name}` (from STELLATE_MODELS or --models): "
                f"{exc}; give a dotted module path importable from the current directory"
            ) from None
        before = len(found)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Model) and value is not Model:
                meta = value._meta
                if not meta.abstract and not meta.proxy:
                    found[value] = None
        if len(found) == before:
            raise ImproperlyConfigured(
                f"Module `{name}` (from STELLATE_MODELS or --models) holds no concrete model: "
                "point it at the module that defines your Model classes"
            )
    pending = list(found)
    while pending:
        model = pending.pop()
        for field in model._meta.field_list:
            if field.foreign_key is not None:
                target = field.related_model
                if target not in found and not target._meta.abstract:
                    found[target] = None
                    pending.append(target)
    return list(found)


def state_from_models(models: Iterable[type[Model]]) -> ProjectState:
    """The schema ``models`` need, with their rename hints.

    Raises:
        ImproperlyConfigured: two models claim one table.
    """
    tables: dict[str, TableState] = {}
    extensions: set[str] = set()
    owners: dict[str, str] = {}
    for model in models:
        meta = model._meta
        if meta.table in owners:
            raise ImproperlyConfigured(
                f"Models `{owners[meta.table]}` and `{model.__qualname__}` both use table "
                f"`{meta.table}`: give one another `Meta.table` (or make it a proxy)"
            )
        owners[meta.table] = model.__qualname__
        columns = [_column(field) for field in meta.field_list]
        indexes = [
            IndexState(name=_index_name(meta.table, [field.column]), columns=[field.column])
            for field in meta.field_list
            if field.index and not field.unique and not field.primary_key
        ]
        indexes.extend(_index(meta.table, index) for index in meta.indexes)
        for field in meta.field_list:
            extension = getattr(field, "db_extension", None)
            if isinstance(extension, str):
                extensions.add(extension)
        for index in meta.indexes:
            extension = getattr(index, "db_extension", None)
            if isinstance(extension, str):
                extensions.add(extension)
        tables[meta.table] = TableState(
            name=meta.table,
            columns=columns,
            indexes=indexes,
            constraints=[_constraint(meta.table, c) for c in meta.constraints],
            unlogged=meta.unlogged,
            renamed_from=meta.renamed_from,
        )
    return ProjectState(tables=tables, extensions=sorted(extensions))


def _column(field: Field) -> ColumnState:
    sql_type = field.db_type()
    identity = sql_type.upper() in _SERIAL
    if identity:
        # Identity columns are SQL-standard SERIAL: no separately owned sequence to
        # rename or grant, and the same `DEFAULT` behaviour for inserts.
        sql_type = _SERIAL[sql_type.upper()]
    foreign_key = None
    if field.foreign_key is not None:
        target = field.related_model._meta
        foreign_key = ForeignKeyState(
            table=target.table, column=target.pk.column, on_delete=_on_delete(field)
        )
    return ColumnState(
        name=field.column,
        type=sql_type,
        null=field.nullable and not field.primary_key,
        default=field.db_default,
        primary_key=field.primary_key,
        identity=identity or (field.primary_key and field.auto),
        unique=field.unique and not field.primary_key,
        foreign_key=foreign_key,
        renamed_from=field.renamed_from,
    )


def _on_delete(field: Field) -> Any:
    return str(getattr(field.on_delete, "value", field.on_delete))


def _index_name(table: str, columns: Sequence[str], suffix: str = "idx") -> str:
    # PostgreSQL truncates names at 63 bytes; keep them unique-looking and visible.
    name = f"{table.rsplit('.', 1)[-1]}_{'_'.join(columns)}_{suffix}"
    return name[:63]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _index(table: str, index: Any) -> IndexState:
    columns = _names(getattr(index, "fields", None) or getattr(index, "columns", None))
    if not columns:
        raise ImproperlyConfigured(f"Index `{index!r}` on `{table}` has no fields")
    opclasses = _names(getattr(index, "opclasses", None))
    opclass = getattr(index, "opclass", None) or (opclasses[0] if opclasses else None)
    return IndexState(
        name=getattr(index, "name", None) or _index_name(table, columns),
        columns=columns,
        unique=bool(getattr(index, "unique", False)),
        method=getattr(index, "method", None) or getattr(index, "using", None) or "btree",
        opclass=opclass,
        condition=_sql_text(getattr(index, "condition", None)),
        include=_names(getattr(index, "include", None)),
    )


def _constraint(table: str, constraint: Any) -> ConstraintState:
    check = getattr(constraint, "check", None)
    name = getattr(constraint, "name", None)
    if check is not None or type(constraint).__name__.startswith("Check"):
        if not name:
            raise ImproperlyConfigured(f"Check constraint on `{table}` needs a `name`")
        return ConstraintState(name=name, kind="check", check=_sql_text(check))
    columns = _names(getattr(constraint, "fields", None) or getattr(constraint, "columns", None))
    return ConstraintState(
        name=name or _index_name(table, columns, "key"),
        kind="unique",
        columns=columns,
        condition=_sql_text(getattr(constraint, "condition", None)),
    )


def _sql_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    # An expression object (a Q) compiled by the ORM: use its SQL when it offers one.
    to_sql = getattr(value, "to_sql", None) or getattr(value, "sql", None)
    if callable(to_sql):
        return str(to_sql())
    return str(value)
