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
from stellate.orm.cache import GENERATION_TABLE
from stellate.orm.constraints import CheckConstraint, Index, UniqueConstraint
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    ForeignKeyState,
    IndexState,
    ProjectState,
    TableState,
)
from stellate.orm.schema import condition_sql, index_name

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.orm.many_to_many import ManyToManyField
    from stellate.orm.models import Model

__all__ = ["load_models", "state_from_models", "view_state"]

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
                if meta.owns_table:
                    found[value] = None
                elif meta.sti_parent is not None:
                    found[meta.sti_parent.model] = None  # the STI root owns the table
        if len(found) == before:
            raise ImproperlyConfigured(
                f"Module `{name}` (from STELLATE_MODELS or --models) holds no concrete model: "
                "point it at the module that defines your Model classes"
            )
    pending = list(found)
    while pending:
        model = pending.pop()
        targets = [f.related_model for f in model._meta.field_list if f.foreign_key is not None]
        targets.extend(m2m.target for m2m in _many_to_many(model))
        for target in targets:
            if target not in found and not target._meta.abstract:
                found[target] = None
                pending.append(target)
    return list(found)


def _many_to_many(model: type[Model]) -> list[ManyToManyField]:
    return list(getattr(model._meta, "many_to_many", {}).values())


def state_from_models(models: Iterable[type[Model]]) -> ProjectState:
    """The schema ``models`` need, with their rename hints.

    Index names, automatic foreign-key indexes and condition SQL follow
    :mod:`stellate.orm.schema`, so a table migrated here equals one built with
    ``create_table_sql``.

    Raises:
        ImproperlyConfigured: two models claim one table.
    """
    tables: dict[str, TableState] = {}
    extensions: set[str] = set()
    owners: dict[str, str] = {}
    models_seen = list(models)
    # A many-to-many's through model is its junction: its table comes from the model.
    for m2m in [m2m for model in models_seen for m2m in _many_to_many(model)]:
        if m2m.through_model is not None and m2m.through_model not in models_seen:
            models_seen.append(m2m.through_model)
    for model in models_seen:
        meta = model._meta
        if meta.table in owners:
            raise ImproperlyConfigured(
                f"Models `{owners[meta.table]}` and `{model.__qualname__}` both use table "
                f"`{meta.table}`: give one another `Meta.table` (or make it a proxy)"
            )
        owners[meta.table] = model.__qualname__
        if meta.materialized_view is not None:
            tables[meta.table] = view_state(model)
            continue
        for item in [*meta.field_list, *meta.indexes]:
            extension = getattr(item, "db_extension", None)
            if isinstance(extension, str):
                extensions.add(extension)
        tables[meta.table] = TableState(
            name=meta.table,
            columns=[_column(field, meta.column_nullable(field)) for field in meta.table_fields],
            indexes=_indexes(model),
            constraints=[_constraint(model, c) for c in meta.constraints],
            unlogged=meta.unlogged,
            renamed_from=meta.renamed_from,
        )
    for model in list(models_seen):
        for m2m in _many_to_many(model):
            if m2m.table not in tables:
                tables[m2m.table] = _junction(m2m)
    if any(model._meta.cache_watched for model in models_seen):
        tables[GENERATION_TABLE] = TableState(
            name=GENERATION_TABLE,
            columns=[
                ColumnState(name="table_name", type="TEXT", primary_key=True),
                ColumnState(name="generation", type="TEXT"),
            ],
        )
    return ProjectState(tables=tables, extensions=sorted(extensions))


def view_state(model: type[Model]) -> TableState:
    """A materialized view: its SELECT, output columns and indexes (as ``views.py`` makes)."""
    from stellate.orm.views import view_unique_index_name

    meta = model._meta
    unique_key = IndexState(
        name=view_unique_index_name(model), columns=[meta.pk.column], unique=True
    )
    indexes = [unique_key]
    for field in meta.field_list:
        if field.primary_key or not (field.index or field.unique):
            continue
        suffix = "uniq" if field.unique else "idx"
        indexes.append(
            IndexState(
                name=index_name(meta.table, [field.column], suffix),
                columns=[field.column],
                unique=field.unique,
            )
        )
    return TableState(
        name=meta.table,
        columns=[
            ColumnState(name=f.column, type=f.reference_type(), null=True) for f in meta.field_list
        ],
        indexes=indexes,
        materialized_view=(meta.materialized_view or "").strip().rstrip(";"),
    )


def _junction(m2m: ManyToManyField) -> TableState:
    """The junction table of a many-to-many field, as ``ManyToManyField`` creates it."""
    source, target = m2m.source._meta, m2m.target._meta

    def reference(name: str, meta: Any) -> ColumnState:
        return ColumnState(
            name=name,
            type=meta.pk.reference_type(),
            primary_key=True,
            foreign_key=ForeignKeyState(
                table=meta.table, column=meta.pk.column, on_delete="CASCADE"
            ),
        )

    return TableState(
        name=m2m.table,
        columns=[reference(m2m.source_column, source), reference(m2m.target_column, target)],
        indexes=[IndexState(name=m2m.index_name, columns=[m2m.target_column])],
    )


def _column(field: Field, nullable: bool) -> ColumnState:
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
            table=target.table,
            column=target.pk.column,
            on_delete=field.on_delete.value,
        )
    return ColumnState(
        name=field.column,
        type=sql_type,
        null=nullable and not field.primary_key,
        default=field.db_default,
        primary_key=field.primary_key,
        identity=identity,
        unique=field.unique and not field.primary_key,
        foreign_key=foreign_key,
        generated=field.generation_sql() if field.generated else None,
        renamed_from=field.renamed_from,
    )


def _columns(model: type[Model], names: Iterable[str]) -> list[str]:
    """Column names for field names; a leading ``-`` (descending) is kept."""
    meta = model._meta
    result = []
    for spec in names:
        column = meta.get_field(spec.lstrip("-")).column
        result.append(f"-{column}" if spec.startswith("-") else column)
    return result


def _indexes(model: type[Model]) -> list[IndexState]:
    meta = model._meta
    indexes = [
        IndexState(
            name=index_name(meta.table, [field.column], "idx"),
            columns=[field.column],
            method=field.index_method,
            opclass=field.index_opclass,
        )
        for field in meta.table_fields
        if (field.index or field.foreign_key is not None)
        and not (field.unique or field.primary_key)
    ]
    for index in meta.indexes:
        if not isinstance(index, Index):
            raise ImproperlyConfigured(
                f"`{model.__name__}.Meta.indexes` holds `{index!r}`; use Index(...)"
            )
        columns = _columns(model, index.fields)
        plain = [c.lstrip("-") for c in columns]
        indexes.append(
            IndexState(
                name=index.name or index_name(meta.table, plain, "uniq" if index.unique else "idx"),
                columns=columns,
                unique=index.unique,
                method=index.method,
                opclass=index.opclass,
                include=_columns(model, index.include),
                condition=(
                    condition_sql(model, index.condition) if index.condition is not None else None
                ),
            )
        )
    return indexes


def _constraint(model: type[Model], constraint: Any) -> ConstraintState:
    if isinstance(constraint, CheckConstraint):
        return ConstraintState(
            name=constraint.name, kind="check", check=condition_sql(model, constraint.check)
        )
    if isinstance(constraint, UniqueConstraint):
        return ConstraintState(
            name=constraint.name,
            kind="unique",
            columns=_columns(model, constraint.fields),
            condition=(
                condition_sql(model, constraint.condition)
                if constraint.condition is not None
                else None
            ),
        )
    raise ImproperlyConfigured(
        f"`{model.__name__}.Meta.constraints` holds `{constraint!r}`; use UniqueConstraint "
        "or CheckConstraint"
    )
