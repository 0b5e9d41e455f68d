"""Compile queries to parameterised SQL, cached per queryset shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from stellate.orm._context import (
    ColumnRef,
    CompileContext,
    Query,
    Transform,
    _value_shape,
    number_raw_sql,
)
from stellate.orm.exceptions import FieldError, ValidationError, unknown_name_error
from stellate.orm.expressions import Expression, OrderBy
from stellate.orm.models import quote_name

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.orm.models import Model

__all__ = ["CompiledQuery", "SelectPlan", "compile_select"]

QueryKind = Literal["select", "update", "delete", "count", "exists", "aggregate", "insert"]

_CACHE_LIMIT = 2048


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """SQL text, its parameters and what kind of statement it is (from ``to_sql()``).

    ``str()`` shows the SQL with its parameters listed; ``inlined()`` substitutes them
    (Python ``repr``) for reading only; never execute the inlined text.
    """

    sql: str
    params: tuple[Any, ...]
    kind: str

    def __str__(self) -> str:
        lines = [f"-- {self.kind.upper()} ({len(self.params)} params)", self.sql]
        if self.params:
            lines.append("-- params:")
            lines.extend(f"--   ${i} = {p!r}" for i, p in enumerate(self.params, 1))
        return "\n".join(lines)

    def inlined(self) -> str:
        """The SQL with ``$n`` replaced by ``repr(value)``: for reading, never for running."""
        import re

        def substitute(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            return repr(self.params[index]) if index < len(self.params) else match.group(0)

        return re.sub(r"\$(\d+)", substitute, self.sql)


class RelatedSegment:
    as_key: bool
    attr: str
    converters: tuple[tuple[str, Any], ...]
    end: int
    fk_name: str
    model: type[Model]
    names: tuple[str, ...]
    parent: int
    pk_index: int
    start: int

    __slots__ = (
        "as_key",
        "attr",
        "converters",
        "end",
        "fk_name",
        "model",
        "names",
        "parent",
        "pk_index",
        "start",
    )

    def __init__(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)


class SelectPlan:
    """A compiled SELECT shape: SQL, parameter transforms and how rows become results."""

    __slots__ = (
        "builder",
        "converters",
        "kind",
        "mode",
        "model",
        "names",
        "related",
        "sql",
        "transforms",
    )

    def __init__(self) -> None:
        # Set on first use by _hydrate: the row builder generated for this shape.
        self.builder: Any = None
        self.sql = ""
        self.transforms: list[Transform] = []
        self.mode: str = "model"
        self.model: type[Model] | None = None
        self.names: tuple[str, ...] = ()
        self.converters: tuple[tuple[str, Any], ...] = ()
        self.related: list[RelatedSegment] = []
        self.kind = "select"


def _cache(model: type[Model]) -> dict[Any, Any]:
    meta = model._meta
    cache = meta.sql_cache
    if len(cache) > _CACHE_LIMIT:
        # A bounded cache: shapes are few in real code; dynamic shapes start over.
        cache = meta.sql_cache = {}
    return cache


def bind(transforms: list[Transform], raws: list[Any]) -> tuple[Any, ...]:
    if len(transforms) != len(raws):  # pragma: no cover - an internal invariant
        raise RuntimeError(f"stellate-orm bug: {len(raws)} values for {len(transforms)} parameters")
    return tuple([t(v) for t, v in zip(transforms, raws, strict=True)])


# -- SELECT -----------------------------------------------------------------------------------


def compile_select(query: Query, kind: str = "select") -> tuple[SelectPlan, tuple[Any, ...]]:
    """Compile (or fetch the cached plan of) a SELECT-like query and bind its parameters."""
    cache = _cache(query.model)
    key = (kind, query.shape())
    plan = cache.get(key)
    if plan is None:
        plan = _build_select(query, kind)
        cache[key] = plan
    raws: list[Any] = []
    query.flatten(
        raws,
        select_annotations=selects_annotations(query, kind),
        ordering=compiles_order(query, kind),
    )
    return plan, bind(plan.transforms, raws)


def compile_select_sql(query: Query, ctx: CompileContext) -> str:
    """SELECT SQL for ``query`` compiled into ``ctx`` (used for subqueries)."""
    plan = SelectPlan()
    return _select_sql(query, ctx, plan, "select")


def compile_exists_subquery(query: Query, outer: CompileContext) -> str:
    outer.counter.aliases += 1
    inner = CompileContext(query.model, outer=outer, alias=f"s{outer.counter.aliases}")
    return _select_sql(query, inner, SelectPlan(), "exists")


def _sliced(query: Query) -> bool:
    return query.limit is not None or query.offset is not None


def compiles_order(query: Query, kind: str) -> bool:
    """Whether a ``kind`` statement of ``query`` has an ORDER BY (its parameters bind).

    Counts and aggregates never do; EXISTS only when a slice makes the order matter.
    """
    if kind in ("count", "aggregate"):
        return False
    return kind != "exists" or _sliced(query)


def selects_annotations(query: Query, kind: str) -> bool:
    """Whether a ``kind`` statement of ``query`` selects (and binds) its annotations.

    COUNT and EXISTS do not, except an EXISTS over a slice: it checks the sliced
    SELECT, whose ORDER BY may name annotations.
    """
    return kind not in ("count", "exists") or (kind == "exists" and _sliced(query))


def _build_select(query: Query, kind: str) -> SelectPlan:
    plan = SelectPlan()
    plan.kind = kind
    ctx = CompileContext(query.model)
    plan.sql = _select_sql(query, ctx, plan, kind)
    plan.transforms = ctx.transforms
    return plan


def _main_fields(query: Query) -> list[Field]:
    meta = query.model._meta
    if query.only is not None:
        names = {meta.pk.name}
        for name in query.only:
            if name in meta.relations and name not in meta.fields:
                name = meta.relations[name].name
            meta.get_field(name)
            names.add(name)
        return [f for f in meta.field_list if f.name in names]
    if query.defer:
        for name in query.defer:
            field = meta.get_field(name)
            if field.primary_key:
                raise FieldError(
                    f"The primary key `{name}` of `{meta.model.__name__}` cannot be deferred"
                )
        return [f for f in meta.select_fields if f.name not in query.defer]
    # `select_fields` is `field_list` except on an STI root, whose rows may be any child.
    return meta.select_fields


def _related_paths(
    model: type[Model], paths: tuple[str, ...]
) -> list[tuple[tuple[str, ...], list[tuple[Field, bool]]]]:
    """Expand ``author__publisher`` into its prefixes with the (field, as_key) chain."""
    seen: dict[tuple[str, ...], list[tuple[Field, bool]]] = {}
    for path in paths:
        current = model
        chain: list[tuple[Field, bool]] = []
        names: tuple[str, ...] = ()
        for part in path.split("__"):
            meta = current._meta
            field: Field
            if part in meta.relations:
                field, as_key = meta.relations[part], part == meta.relations[part].name
            elif part in meta.fields and meta.fields[part].is_relation:
                field, as_key = meta.fields[part], True
            else:
                valid = {*meta.relations, *(f.name for f in meta.relations.values())}
                raise unknown_name_error(
                    "relation",
                    part,
                    current.__name__,
                    valid,
                    hint="select_related() follows foreign keys; use prefetch_related() for "
                    "reverse relations",
                )
            chain = [*chain, (field, as_key)]
            names = (*names, field.relation_name)
            if names not in seen or as_key:
                seen[names] = chain
            current = field.related_model
    return sorted(seen.items(), key=lambda item: len(item[0]))


def _with_clause(query: Query, ctx: CompileContext) -> str:
    """``WITH [RECURSIVE] name AS (...), ...`` of ``with_cte()``; compiled first, so its
    parameters come first."""
    if not query.ctes:
        return ""
    recursive = any(cte[2] for cte in query.ctes)
    parts = [f"{name} AS ({number_raw_sql(body, ctx)})" for name, body, _r, _p in query.ctes]
    return f"WITH {'RECURSIVE ' if recursive else ''}{', '.join(parts)} "


def _order_sql(query: Query, ctx: CompileContext, annotation_ref: Any) -> list[str]:
    order: list[str] = []
    for item in query.order_by:
        if isinstance(item, Expression):
            order.append(
                item.compile(ctx) if isinstance(item, OrderBy) else f"{item.compile(ctx)} ASC"
            )
            continue
        if item == "?":
            order.append("RANDOM()")
            continue
        descending = item.startswith("-")
        name = item.lstrip("-")
        if name in query.annotations:
            sql = annotation_ref(name)
        else:
            sql, _ = ctx.column(name)
        order.append(f"{sql} DESC" if descending else f"{sql} ASC")
    return order


_WRAPPED = quote_name("_w")


def _windowed_select_sql(query: Query, ctx: CompileContext, plan: SelectPlan, kind: str) -> str:
    """A query filtered on a window annotation: the window is computed inside, the
    condition, ordering and slice are applied outside (PostgreSQL evaluates windows
    after WHERE, so they cannot be filtered in the same SELECT)."""
    if query.for_update is not None:
        raise FieldError(
            "select_for_update() cannot lock rows of a query filtered on a window annotation; "
            "lock the rows by primary key in a second query"
        )
    inner = query.clone()
    inner.window_where = ()
    inner.order_by = ()
    inner.limit = inner.offset = None
    keys: tuple[str, ...] = ()
    if query.values_mode is not None and query.values_fields and not query.group_by_values:
        # The outer condition and ordering may name any field: the inner query selects
        # them all, the outer one only the requested keys.
        keys = query.values_fields
        extra = [name for name in query.model._meta.field_names if name not in keys]
        inner.values_fields = (*keys, *extra)
        inner.values_mode = "list"
    ctx.alias_related = True
    try:
        inner_sql = _select_sql(inner, ctx, plan, "select")
    finally:
        ctx.alias_related = False
    if keys:
        plan.mode = query.values_mode  # type: ignore[assignment]
        plan.names = keys
        plan.converters = tuple(c for c in plan.converters if c[0] in keys)
    outer = CompileContext(query.model, outer=ctx.outer, alias="_w", numbering=ctx)
    outer.annotations = {
        name: ColumnRef(f"{_WRAPPED}.{quote_name(name)}") for name in query.annotations
    }
    conditions = [outer.compile_q(q) for q in query.window_where]
    where = " AND ".join(f"({c})" if len(conditions) > 1 else c for c in conditions)
    order = (
        _order_sql(query, outer, lambda name: f"{_WRAPPED}.{quote_name(name)}")
        if compiles_order(query, kind)
        else []
    )
    limit = outer.param() if query.limit is not None else None
    offset = outer.param() if query.offset is not None else None
    joins = "".join(f" {join.sql}" for join in outer.joins.values())
    if plan.mode == "model":
        selected = f"{_WRAPPED}.*"
    else:
        # Only the requested keys: annotations kept inside for the condition stay there.
        selected = ", ".join(f"{_WRAPPED}.{quote_name(name)}" for name in plan.names)
    sql = f"SELECT {selected} FROM ({inner_sql}) AS {_WRAPPED}{joins} WHERE {where}"
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    if kind == "exists" and limit is None:
        sql += " LIMIT 1"
    if limit is not None:
        sql += f" LIMIT {limit}"
    if offset is not None:
        sql += f" OFFSET {offset}"
    if kind == "count":
        plan.mode = "count"
        sql = f"SELECT COUNT(*) FROM ({sql}) AS _counted"
    elif kind == "exists":
        plan.mode = "exists"
        sql = f"SELECT 1 FROM ({sql}) AS _found"
    return sql


def _related_column(ctx: CompileContext, ref: str, field: Field, index: int) -> str:
    sql = f"{ref}.{quote_name(field.column)}"
    if ctx.alias_related:
        # Inside a wrapped query: joined columns must not shadow the model's own names.
        sql += f" AS {quote_name(f'_r{index}')}"
    return sql


def _attach_joined(
    ctx: CompileContext,
    segments: list[RelatedSegment],
    related_columns: list[str],
    group_by: list[str],
    attr: str,
    target: type[Model],
    ref: str,
    position: int,
    fk_name: str,
    *,
    has_aggregate: bool,
    group_all: bool = False,
) -> int:
    """Select ``target``'s columns from ``ref`` and attach the instance as ``attr`` of the
    root row (foreign key attributes keep their plain values). Returns the next position."""
    tmeta = target._meta
    start = position
    columns = [f"{ref}.{quote_name(f.column)}" for f in tmeta.field_list]
    related_columns.extend(
        _related_column(ctx, ref, f, len(related_columns) + i)
        for i, f in enumerate(tmeta.field_list)
    )
    if has_aggregate:
        # A subquery's columns are not functionally dependent on its primary key.
        group_by.extend(columns if group_all else [f"{ref}.{quote_name(tmeta.pk.column)}"])
    segments.append(
        RelatedSegment(
            parent=0,
            attr=attr,
            fk_name=fk_name,
            as_key=False,
            model=target,
            start=start,
            end=start + len(columns),
            pk_index=start + tmeta.field_list.index(tmeta.pk),
            names=tmeta.field_names,
            converters=tmeta.from_db_converters,
        )
    )
    return start + len(columns)


def _join_lateral(
    ctx: CompileContext,
    attr: str,
    queryset: Any,
    segments: list[RelatedSegment],
    related_columns: list[str],
    group_by: list[str],
    position: int,
    has_aggregate: bool,
) -> int:
    """``join_related(attr=qs)``: ``LEFT JOIN LATERAL (qs LIMIT 1) ON TRUE``, so each
    row gets at most the first matching row (``None`` without one)."""
    from stellate.orm._context import Join, lateral_query

    query = lateral_query(queryset)
    ctx.counter.aliases += 1
    inner = CompileContext(query.model, outer=ctx, alias=f"s{ctx.counter.aliases}")
    sql = compile_select_sql(query, inner)
    alias = quote_name(f"j{ctx.counter.aliases}")
    ctx.joins[("join_related", attr)] = Join(
        alias, query.model, f"LEFT JOIN LATERAL ({sql}) AS {alias} ON TRUE"
    )
    return _attach_joined(
        ctx,
        segments,
        related_columns,
        group_by,
        attr,
        query.model,
        alias,
        position,
        attr,
        has_aggregate=has_aggregate,
        group_all=True,
    )


def _select_sql(query: Query, ctx: CompileContext, plan: SelectPlan, kind: str) -> str:
    if query.window_where:
        if kind == "aggregate":
            raise FieldError(
                "aggregate() over a queryset filtered on a window annotation is not supported; "
                "aggregate in Python over the rows, or filter without the window"
            )
        return _windowed_select_sql(query, ctx, plan, kind)
    if kind == "exists" and _sliced(query):
        inner = _select_sql(query, ctx, plan, "select")
        plan.mode = "exists"
        return f"SELECT 1 FROM ({inner}) AS _found LIMIT 1"
    with_clause = _with_clause(query, ctx)
    model = query.model
    meta = model._meta
    ref = ctx.ref
    columns: list[str] = []
    group_by: list[str] = []
    has_aggregate = any(expr.contains_aggregate for expr in query.annotations.values())
    plan.model = model
    ctx.annotations = query.annotations

    if kind in ("count", "exists"):
        plan.mode = kind
        if has_aggregate:
            group_by.append(f"{ref}.{quote_name(meta.pk.column)}")
    elif kind == "aggregate":
        plan.mode = "aggregate"
    elif query.values_mode is None:
        plan.mode = "model"
        fields = _main_fields(query)
        columns.extend(f"{ref}.{quote_name(f.column)}" for f in fields)
        names = [f.name for f in fields]
        converters = [(f.name, f.from_db_value) for f in fields if f.needs_from_db]
        if has_aggregate:
            group_by.append(f"{ref}.{quote_name(meta.pk.column)}")
        segments: list[RelatedSegment] = []
        index_of: dict[tuple[str, ...], int] = {(): 0}
        position = len(columns) + len(query.annotations)
        related_columns: list[str] = []
        for names_path, chain in _related_paths(model, query.select_related):
            field, as_key = chain[-1]
            parent_path = names_path[:-1]
            left_model, left_ref = model, ref
            for depth in range(len(names_path)):
                sub = names_path[: depth + 1]
                left_model, left_ref = ctx._join_forward(sub, chain[depth][0], left_ref)
            target = left_model
            tmeta = target._meta
            start = position
            related_columns.extend(
                _related_column(ctx, left_ref, f, len(related_columns) + i)
                for i, f in enumerate(tmeta.field_list)
            )
            position += len(tmeta.field_list)
            pk_index = start + tmeta.field_list.index(tmeta.pk)
            if has_aggregate:
                group_by.append(f"{left_ref}.{quote_name(tmeta.pk.column)}")
            segments.append(
                RelatedSegment(
                    parent=index_of[parent_path],
                    attr=field.relation_name,
                    fk_name=field.name,
                    as_key=as_key,
                    model=target,
                    start=start,
                    end=position,
                    pk_index=pk_index,
                    names=tmeta.field_names,
                    converters=tmeta.from_db_converters,
                )
            )
            index_of[names_path] = len(segments)
        for attr, path in query.join_aliases:
            if not isinstance(path, str):
                continue  # joined after the annotations, whose parameters come first
            names_path, chain = _related_paths(model, (path,))[-1]
            left_model, left_ref = model, ref
            for depth in range(len(names_path)):
                sub = names_path[: depth + 1]
                left_model, left_ref = ctx._join_forward(sub, chain[depth][0], left_ref)
            position = _attach_joined(
                ctx,
                segments,
                related_columns,
                group_by,
                attr,
                left_model,
                left_ref,
                position,
                chain[-1][0].name,
                has_aggregate=has_aggregate,
            )
        plan.related = segments
        plan.names = (*names, *query.annotations)
        plan.converters = tuple(converters)
        annotation_sql = [
            f"{expr.compile(ctx)} AS {quote_name(name)}" for name, expr in query.annotations.items()
        ]
        for attr, path in query.join_aliases:
            if isinstance(path, str):
                continue
            position = _join_lateral(
                ctx, attr, path, segments, related_columns, group_by, position, has_aggregate
            )
        columns.extend(annotation_sql)
        columns.extend(related_columns)
    else:
        plan.mode = query.values_mode
        # Annotations compile first, in declaration order (the parameter order); only
        # those named in values() (or all when none are named) are returned, the rest
        # stay selectable for ORDER BY at the end of the row.
        annotation_columns = {
            name: f"{expr.compile(ctx)} AS {quote_name(name)}"
            for name, expr in query.annotations.items()
        }
        keys = list(query.values_fields) or [*meta.field_names, *query.annotations]
        converters = []
        for key in keys:
            if key in annotation_columns:
                columns.append(annotation_columns[key])
                expr = query.annotations[key]
                if not (expr.contains_aggregate or expr.contains_window):
                    # A computed key (``values(writer=F("author__name"))``) is a group
                    # key too; by position, so its parameters are not bound twice.
                    group_by.append(str(len(columns)))
                continue
            sql, value_field = ctx.column(key)
            columns.append(f"{sql} AS {quote_name(key)}")
            group_by.append(sql)
            if value_field is not None and value_field.needs_from_db:
                converters.append((key, value_field.from_db_value))
        columns.extend(sql for name, sql in annotation_columns.items() if name not in keys)
        if not query.group_by_values:
            group_by.insert(0, f"{ref}.{quote_name(meta.pk.column)}")
        plan.names = tuple(keys)
        plan.converters = tuple(converters)
        if query.values_mode == "flat" and len(plan.names) != 1:
            raise FieldError(
                f"`values_list(flat=True)` needs exactly one field, got {len(plan.names)}: "
                f"{', '.join(f'`{n}`' for n in plan.names)}"
            )
    if kind == "aggregate":
        for name, expr in query.annotations.items():
            columns.append(f"{expr.compile(ctx)} AS {quote_name(name)}")
        plan.names = tuple(query.annotations)
    conditions = [ctx.compile_q(q) for q in query.where]
    where = " AND ".join(f"({c})" if len(query.where) > 1 else c for c in conditions)
    having_parts = [ctx.compile_q(q) for q in query.having]
    having = " AND ".join(f"({c})" if len(query.having) > 1 else c for c in having_parts)
    order = _order_sql(query, ctx, quote_name) if compiles_order(query, kind) else []
    limit = ctx.param() if query.limit is not None else None
    offset = ctx.param() if query.offset is not None else None

    if kind == "exists":
        select = "SELECT 1"
    elif kind == "count" and not (query.distinct or limit or offset or has_aggregate):
        select = "SELECT COUNT(*)"
    elif kind == "count" and query.distinct and query.values_mode is not None:
        # Counting distinct values counts distinct rows of exactly those columns.
        value_columns = [
            ctx.column(name)[0]
            for name in query.values_fields or meta.field_names
            if name not in query.annotations
        ]
        select = f"SELECT DISTINCT {', '.join(value_columns)}"
    elif kind == "count":
        select = f"SELECT {'DISTINCT ' if query.distinct else ''}{ref}.{quote_name(meta.pk.column)}"
    else:
        select = f"SELECT {'DISTINCT ' if query.distinct else ''}{', '.join(columns)}"
    sql = f"{select} FROM {ctx.from_sql()}"
    if where:
        sql += f" WHERE {where}"
    if group_by and has_aggregate and kind != "aggregate":
        sql += f" GROUP BY {', '.join(group_by)}"
    if having:
        sql += f" HAVING {having}"
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    if kind == "exists" and limit is None:
        sql += " LIMIT 1"
    if limit is not None:
        sql += f" LIMIT {limit}"
    if offset is not None:
        sql += f" OFFSET {offset}"
    if query.for_update is not None and kind == "select":
        skip_locked, nowait, of = query.for_update
        targets = ", ".join(_lock_target(ctx, name) for name in of) if of else ref
        sql += f" FOR UPDATE OF {targets}"
        if nowait:
            sql += " NOWAIT"
        elif skip_locked:
            sql += " SKIP LOCKED"
    if kind == "count" and select != "SELECT COUNT(*)":
        sql = f"SELECT COUNT(*) FROM ({sql}) AS _counted"
    return with_clause + sql


def _lock_target(ctx: CompileContext, name: str) -> str:
    """``select_for_update(of=...)``: ``"self"`` or a select_related relation path."""
    if name == "self":
        return ctx.ref
    join = ctx.joins.get(tuple(name.split("__")))
    if join is None:
        joined = ", ".join(f"`{'__'.join(path)}`" for path in ctx.joins) or "none"
        raise FieldError(
            f"select_for_update(of=...) names `{name}`, which is not joined; use `self` or a "
            f"select_related() relation (joined: {joined})"
        )
    return join.alias


# -- UPDATE / DELETE -------------------------------------------------------------------------


def _where_for_write(query: Query, ctx: CompileContext, verb: str) -> str:
    if query.ctes or query.window_where:
        what = "with_cte()" if query.ctes else "a filter on a window annotation"
        raise FieldError(
            f"Cannot {verb} through a queryset with {what}; select the primary keys first: "
            f"`.filter(pk__in=qs.values('pk'))`"
        )
    if query.limit is not None or query.offset is not None:
        raise FieldError(
            f"Cannot {verb} a sliced queryset (limit/offset); filter on the primary key instead"
        )
    if query.having:
        raise FieldError(
            f"Cannot {verb} rows selected by a condition on an aggregate; select their "
            f"primary keys first: `.filter(pk__in=qs.values('pk'))`"
        )
    ctx.annotations = query.annotations
    conditions = [ctx.compile_q(q) for q in query.where]
    where = " AND ".join(f"({c})" for c in conditions)
    if ctx.joins:
        meta = query.model._meta
        pk = quote_name(meta.pk.column)
        inner = f"SELECT {meta.qtable}.{pk} FROM {ctx.from_sql()}"
        if where:
            inner += f" WHERE {where}"
        return f" WHERE {meta.qtable}.{pk} IN ({inner})"
    return f" WHERE {where}" if where else ""


def clean_update_values(model: type[Model], values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``update(**values)`` keys and plain values (expressions pass through)."""
    meta = model._meta
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name not in meta.fields and name in meta.relations:
            field = meta.relations[name]
            value = value.pk if value is not None else None
        else:
            field = meta.get_field(name)
        if isinstance(value, Expression):
            cleaned[field.name] = value
            continue
        from stellate.orm.models import Model as ModelBase

        if isinstance(value, ModelBase):
            value = value.pk
        value, problems = field.clean(value)
        if problems:
            errors[field.name] = problems
        cleaned[field.name] = value
    if errors:
        raise ValidationError(errors, model.__name__)
    return cleaned


def compile_update(
    query: Query, values: dict[str, Any], returning: list[str] | None
) -> tuple[str, tuple[Any, ...]]:
    """``UPDATE ... SET ... WHERE ... [RETURNING ...]`` for a filtered queryset."""
    meta = query.model._meta
    if not values:
        raise FieldError("update() needs at least one field=value")
    returning_key = tuple(returning) if returning is not None else None
    key = (
        "update",
        query.shape(),
        tuple((name, _value_shape(name, value)) for name, value in values.items()),
        returning_key,
    )
    cache = _cache(query.model)
    entry = cache.get(key)
    if entry is None:
        ctx = CompileContext(query.model)
        sets = []
        for name, value in values.items():
            field = meta.fields[name]
            if isinstance(value, Expression):
                rhs = value.compile(ctx)
            else:
                rhs = field.placeholder(int(ctx.param(field.to_db_value)[1:]))
            sets.append(f"{quote_name(field.column)} = {rhs}")
        if ctx.joins:
            raise FieldError("update() expressions may only use the model's own fields")
        where = _where_for_write(query, ctx, "update")
        sql = f"UPDATE {meta.qtable} SET {', '.join(sets)}{where}"
        if returning is not None:
            cols = [meta.get_field(name) for name in returning] if returning else meta.field_list
            sql += " RETURNING " + ", ".join(quote_name(f.column) for f in cols)
        entry = (sql, ctx.transforms)
        cache[key] = entry
    raws: list[Any] = []
    for value in values.values():
        if isinstance(value, Expression):
            value.flatten(raws)
        else:
            raws.append(value)
    query.flatten(raws, select_annotations=False, ordering=False)
    return entry[0], bind(entry[1], raws)


def compile_delete(query: Query) -> tuple[str, tuple[Any, ...]]:
    """``DELETE FROM ... WHERE ...`` for a filtered queryset."""
    key = ("delete", query.shape())
    cache = _cache(query.model)
    entry = cache.get(key)
    if entry is None:
        ctx = CompileContext(query.model)
        where = _where_for_write(query, ctx, "delete")
        entry = (f"DELETE FROM {query.model._meta.qtable}{where}", ctx.transforms)
        cache[key] = entry
    raws: list[Any] = []
    query.flatten(raws, select_annotations=False, ordering=False)
    return entry[0], bind(entry[1], raws)
