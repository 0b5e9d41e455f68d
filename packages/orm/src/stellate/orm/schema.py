"""DDL from model metadata: ``create_table_sql(model)``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from stellate.orm._context import CompileContext
from stellate.orm.constraints import CheckConstraint, Index, UniqueConstraint, sql_literal
from stellate.orm.models import quote_name

if TYPE_CHECKING:
    from stellate.orm.expressions import Q
    from stellate.orm.fields import Field
    from stellate.orm.models import Model

__all__ = ["column_sql", "condition_sql", "create_table_sql", "index_name"]

_MAX_IDENTIFIER = 63


def index_name(table: str, columns: list[str], suffix: str) -> str:
    """A deterministic index name within PostgreSQL's 63-byte identifier limit."""
    base = f"{table.replace('.', '_')}_{'_'.join(columns)}_{suffix}"
    if len(base) <= _MAX_IDENTIFIER:
        return base
    import hashlib

    digest = hashlib.sha1(base.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{base[: _MAX_IDENTIFIER - 9]}_{digest}"


def condition_sql(model: type[Model], condition: Q | str) -> str:
    """A ``Q`` as SQL with literal values (for partial indexes and CHECK constraints)."""
    if isinstance(condition, str):
        return condition
    ctx = CompileContext(model)
    sql = ctx.compile_q(condition)
    if ctx.joins:
        raise ValueError("Constraint and index conditions may only use the model's own fields")
    raws: list[Any] = []
    from stellate.orm._context import q_flatten

    q_flatten(condition, raws)
    params = [t(v) for t, v in zip(ctx.transforms, raws, strict=True)]

    def substitute(match: re.Match[str]) -> str:
        return sql_literal(params[int(match.group(1)) - 1])

    sql = re.sub(r"\$(\d+)", substitute, sql)
    # Columns are written unqualified: CHECK and index predicates see only this table.
    return sql.replace(f"{model._meta.qtable}.", "")


def column_sql(field: Field, *, nullable: bool | None = None) -> str:
    """The column definition of ``field`` inside CREATE TABLE.

    ``nullable`` overrides the field's own (the columns of STI children are nullable).
    """
    parts = [quote_name(field.column), field.db_type()]
    if field.generated:
        parts.append(f"GENERATED ALWAYS AS ({field.generation_sql()}) STORED")
    if field.primary_key:
        parts.append("PRIMARY KEY")
    elif not (field.nullable if nullable is None else nullable):
        parts.append("NOT NULL")
    if field.unique and not field.primary_key:
        parts.append("UNIQUE")
    if field.db_default is not None:
        parts.append(f"DEFAULT {field.db_default}")
    if field.foreign_key is not None:
        target = field.related_model._meta
        parts.append(
            f"REFERENCES {target.qtable} ({quote_name(target.pk.column)}) "
            f"ON DELETE {field.on_delete.value}"
        )
    return " ".join(parts)


def _index_columns(model: type[Model], fields: tuple[str, ...]) -> tuple[list[str], list[str]]:
    meta = model._meta
    sql_parts: list[str] = []
    names: list[str] = []
    for spec in fields:
        descending = spec.startswith("-")
        field = meta.get_field(spec.lstrip("-"))
        names.append(field.column)
        sql_parts.append(quote_name(field.column) + (" DESC" if descending else ""))
    return sql_parts, names


def create_table_sql(model: type[Model]) -> list[str]:
    """CREATE TABLE, then its indexes, for a concrete model (``[]`` for abstract/proxy).

    Returns:
        The statements, in the order they must run.
    """
    meta = model._meta
    if not meta.owns_table:
        return []  # abstract, proxy or STI child: no table of its own
    if meta.materialized_view is not None:
        from stellate.orm.views import create_view_sql

        return create_view_sql(model)
    fields = meta.table_fields
    lines = [column_sql(field, nullable=meta.column_nullable(field)) for field in fields]
    after: list[str] = []
    for constraint in meta.constraints:
        if isinstance(constraint, UniqueConstraint):
            cols, _ = _index_columns(model, constraint.fields)
            if constraint.condition is None:
                lines.append(f"CONSTRAINT {quote_name(constraint.name)} UNIQUE ({', '.join(cols)})")
            else:
                after.append(
                    f"CREATE UNIQUE INDEX {quote_name(constraint.name)} ON {meta.qtable} "
                    f"({', '.join(cols)}) WHERE {condition_sql(model, constraint.condition)}"
                )
        elif isinstance(constraint, CheckConstraint):
            lines.append(
                f"CONSTRAINT {quote_name(constraint.name)} CHECK "
                f"({condition_sql(model, constraint.check)})"
            )
        else:
            raise TypeError(
                f"`{model.__name__}.Meta.constraints` holds `{constraint!r}`; use "
                "UniqueConstraint or CheckConstraint"
            )
    unlogged = "UNLOGGED " if meta.unlogged else ""
    body = ",\n    ".join(lines)
    statements = [f"CREATE {unlogged}TABLE {meta.qtable} (\n    {body}\n)"]
    for field in fields:
        if (field.index or field.foreign_key is not None) and not (
            field.unique or field.primary_key
        ):
            name = index_name(meta.table, [field.column], "idx")
            method = "" if field.index_method == "btree" else f" USING {field.index_method}"
            opclass = f" {field.index_opclass}" if field.index_opclass else ""
            statements.append(
                f"CREATE INDEX {quote_name(name)} ON {meta.qtable}{method} "
                f"({quote_name(field.column)}{opclass})"
            )
    for index in meta.indexes:
        if not isinstance(index, Index):
            raise TypeError(f"`{model.__name__}.Meta.indexes` holds `{index!r}`; use Index(...)")
        cols, names = _index_columns(model, index.fields)
        if index.opclass:
            cols = [
                f"{c[:-5]} {index.opclass} DESC" if c.endswith(" DESC") else f"{c} {index.opclass}"
                for c in cols
            ]
        name = index.name or index_name(meta.table, names, "uniq" if index.unique else "idx")
        sql = (
            f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {quote_name(name)} ON {meta.qtable} "
            f"USING {index.method} ({', '.join(cols)})"
        )
        if index.include:
            sql += f" INCLUDE ({', '.join(_index_columns(model, index.include)[0])})"
        if index.condition is not None:
            sql += f" WHERE {condition_sql(model, index.condition)}"
        statements.append(sql)
    statements.extend(after)
    for relation in meta.many_to_many.values():
        statements.extend(relation.create_table_sql())
    if meta.cache_watched:
        from stellate.orm.cache import GENERATION_TABLE_SQL

        statements.append(GENERATION_TABLE_SQL)
    return statements
