"""Query state and the compile context that resolves names, joins and parameters."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stellate.orm._m2m_filters import ManyToManyConditions, misuse_error
from stellate.orm.exceptions import FieldError, unknown_name_error
from stellate.orm.expressions import Expression, Q, Subquery
from stellate.orm.lookups import (
    LOOKUPS,
    PAIR_LOOKUP_SUFFIXES,
    TRANSFORMS,
    build_json_path_lookup,
    build_lookup,
    pair_values,
)
from stellate.orm.models import Model, quote_name

if TYPE_CHECKING:
    from stellate.orm.fields import Field

Transform = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _filter_value_error(field: Field, value: Any) -> FieldError:
    where = f"`{field.model.__name__}.{field.name}`"
    if field.enum_type is not None:
        allowed = ", ".join(f"`{m.value}`" for m in field.enum_type)
        return FieldError(f"{where} cannot match `{value!r}`: use one of {allowed}")
    expected = getattr(field.python_type, "__name__", str(field.python_type))
    return FieldError(
        f"{where} holds {expected} values; cannot filter it with {type(value).__name__} `{value!r}`"
    )


class Query:
    """Everything a QuerySet says, as plain data (copied on every chained call)."""

    __slots__ = (
        "annotations",
        "ctes",
        "defer",
        "distinct",
        "for_update",
        "group_by_values",
        "having",
        "join_aliases",
        "limit",
        "model",
        "offset",
        "only",
        "order_by",
        "prefetch",
        "select_related",
        "values_fields",
        "values_mode",
        "where",
        "window_where",
    )

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.where: tuple[Q, ...] = ()
        self.having: tuple[Q, ...] = ()
        # values(...).annotate(...) groups by those values; annotate(...).values(...)
        # keeps one group per row (Django's rule).
        self.group_by_values = False
        self.order_by: tuple[str | Expression, ...] = ()
        self.limit: int | None = None
        self.offset: int | None = None
        self.distinct = False
        self.only: tuple[str, ...] | None = None
        self.defer: tuple[str, ...] = ()
        self.select_related: tuple[str, ...] = ()
        self.prefetch: tuple[Any, ...] = ()
        self.annotations: dict[str, Expression] = {}
        self.values_mode: str | None = None
        self.values_fields: tuple[str, ...] = ()
        self.for_update: tuple[bool, bool, tuple[str, ...]] | None = None
        # Conditions on window annotations: applied around the query (see window.py).
        self.window_where: tuple[Q, ...] = ()
        # with_cte(): (name, body SQL, recursive, parameter values), in call order.
        self.ctes: tuple[tuple[str, str, bool, tuple[Any, ...]], ...] = ()
        # join_related(): (attribute name, foreign key path or a correlated QuerySet).
        self.join_aliases: tuple[tuple[str, Any], ...] = ()

    def clone(self) -> Query:
        return _clone_query(self)

    def is_plain(self) -> bool:
        """Whether this is ``Model.objects`` unchanged (no filters, options or modes)."""
        return not (
            self.where
            or self.order_by
            or self.limit is not None
            or self.offset is not None
            or self.distinct
            or self.only is not None
            or self.defer
            or self.select_related
            or self.prefetch
            or self.annotations
            or self.values_mode
            or self.for_update
            or self.window_where
            or self.ctes
            or self.join_aliases
        )

    def shape(self) -> tuple[Any, ...]:
        """What decides the SQL text (everything but the parameter values).

        It is the cache key of every execution, so it holds only the parts that differ
        from a fresh query, each tagged: short keys hash and compare fast.
        """
        parts: list[Any] = []
        if self.where:
            parts.append(("W", *map(q_shape, self.where)))
        if self.having:
            parts.append(("H", *map(q_shape, self.having)))
        if self.order_by:
            parts.append(("O", *[o if isinstance(o, str) else o.shape() for o in self.order_by]))
        if self.limit is not None:
            parts.append("L")
        if self.offset is not None:
            parts.append("S")
        if self.distinct:
            parts.append("D")
        if self.only is not None:
            parts.append(("only", self.only))
        if self.defer:
            parts.append(("defer", self.defer))
        if self.select_related:
            parts.append(("related", self.select_related))
        if self.annotations:
            parts.append(("A", *[(n, e.shape()) for n, e in self.annotations.items()]))
        if self.values_mode is not None:
            parts.append(("V", self.values_mode, self.values_fields, self.group_by_values))
        elif self.group_by_values:
            parts.append("G")
        if self.for_update is not None:
            parts.append(("lock", self.for_update))
        if self.window_where:
            parts.append(("WW", *map(q_shape, self.window_where)))
        if self.ctes:
            parts.append(("CTE", *[(n, body, rec, len(p)) for n, body, rec, p in self.ctes]))
        if self.join_aliases:
            parts.append(
                (
                    "J",
                    *[
                        (attr, path if isinstance(path, str) else path._query.shape())
                        for attr, path in self.join_aliases
                    ],
                )
            )
        return tuple(parts)

    def flatten(
        self, out: list[Any], *, select_annotations: bool = True, ordering: bool = True
    ) -> None:
        """Raw parameter values in compile order: CTEs, annotations, where, having,
        window conditions, ordering, limit, offset.

        ``select_annotations=False`` for COUNT/EXISTS, which do not select them (unless a
        window condition wraps the query: the inner query then selects them);
        ``ordering=False`` for COUNT/aggregates and writes, which compile no ORDER BY.
        """
        annotations = self.annotations
        for _name, _body, _recursive, params in self.ctes:
            out.extend(params)
        if select_annotations or self.window_where:
            for expr in annotations.values():
                expr.flatten(out)
        if (
            self.join_aliases
            and self.values_mode is None
            and (self.window_where or (select_annotations and ordering))
        ):
            # join_related() querysets: compiled with the model rows of a SELECT only.
            for _attr, path in self.join_aliases:
                if not isinstance(path, str):
                    lateral_query(path).flatten(out)
        for q in self.where:
            q_flatten(q, out, annotations)
        for q in self.having:
            q_flatten(q, out, annotations)
        for q in self.window_where:
            # Outside the wrapped query an annotation is a plain column: no repeat.
            q_flatten(q, out)
        if ordering:
            for item in self.order_by:
                if not isinstance(item, str):
                    item.flatten(out)
        if self.limit is not None:
            out.append(self.limit)
        if self.offset is not None:
            out.append(self.offset)


def lateral_query(queryset: Any) -> Query:
    """The query a ``join_related(attr=queryset)`` joins: its first row only."""
    query: Query = queryset._query
    if query.limit == 1:
        return query
    first = query.clone()
    first.limit = 1
    return first


def _generate_clone() -> Callable[[Query], Query]:
    # Every chained call clones: straight-line copies of each slot are about twice as
    # fast as a getattr/setattr loop over __slots__ (and still follow new slots).
    lines = [f"    new.{slot} = query.{slot}" for slot in Query.__slots__ if slot != "annotations"]
    source = "\n".join(
        [
            "def clone(query):",
            "    new = new_query(Query)",
            *lines,
            "    new.annotations = dict(query.annotations)",
            "    return new",
        ]
    )
    namespace: dict[str, Any] = {}
    env = {"new_query": object.__new__, "Query": Query}
    exec(compile(source, "<Query.clone>", "exec"), env, namespace)  # noqa: S102 - slot names only
    clone: Callable[[Query], Query] = namespace["clone"]
    return clone


_clone_query = _generate_clone()


# Filter values that are always one bound parameter (bool is its own type, not here).
_PLAIN_VALUES = frozenset({int, str, float, Decimal, dt.datetime, dt.date, uuid.UUID})


def _value_shape(key: str, value: Any) -> Any:
    if type(value) in _PLAIN_VALUES:
        return "v"
    if value is None:
        return "N"
    if isinstance(value, Expression):
        return value.shape()
    if isinstance(value, bool):
        return ("b", value)
    query = getattr(value, "_query", None)
    if isinstance(query, Query):
        return ("QS", query.shape())
    return "v"


def q_shape(q: Q) -> tuple[Any, ...]:
    parts: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            parts.append(q_shape(child))
        elif isinstance(child, Expression):
            parts.append(child.shape())
        else:
            parts.append((child[0], _value_shape(child[0], child[1])))
    return (q.connector, q.negated, tuple(parts))


def q_flatten(q: Q, out: list[Any], annotations: dict[str, Expression] | None = None) -> None:
    for child in q.children:
        if isinstance(child, Q):
            q_flatten(child, out, annotations)
        elif isinstance(child, Expression):
            child.flatten(out)
        else:
            key, value = child
            if annotations:
                # A condition on an annotation repeats the annotation's expression.
                referenced = annotations.get(key.split("__", 1)[0])
                if referenced is not None:
                    referenced.flatten(out)
            if value is None or key.endswith("__isnull"):
                continue
            if isinstance(value, Expression):
                value.flatten(out)
            elif isinstance(getattr(value, "_query", None), Query):
                value._query.flatten(out)
            elif key.endswith(PAIR_LOOKUP_SUFFIXES):
                out.extend(pair_values(key, value))
            else:
                out.append(value)


def q_references(q: Q, names: set[str] | frozenset[str]) -> bool:
    """Whether any condition of ``q`` starts with one of ``names``."""
    for child in q.children:
        if isinstance(child, Q):
            if q_references(child, names):
                return True
        elif not isinstance(child, Expression) and child[0].split("__", 1)[0] in names:
            return True
    return False


_RAW_PLACEHOLDER = re.compile(r"\{idx\}")
_DOLLAR_PARAMETER = re.compile(r"\$\d")


def check_raw_sql(where: str, sql: str, params: tuple[Any, ...]) -> None:
    """Refuse raw SQL whose ``{idx}`` placeholders do not match its parameters."""
    if not isinstance(sql, str) or not sql.strip():
        raise FieldError(f"{where} needs SQL text, got `{sql!r}`")
    if _DOLLAR_PARAMETER.search(sql):
        raise FieldError(
            f"{where}: write `{{idx}}` for each parameter instead of `$n` (the ORM numbers "
            f"them within the whole query): `{sql}`"
        )
    count = len(_RAW_PLACEHOLDER.findall(sql))
    if count != len(params):
        raise FieldError(
            f"{where} has {count} `{{idx}}` placeholder{'s' * (count != 1)} but "
            f"{len(params)} parameter{'s' * (len(params) != 1)}: `{sql}`"
        )


def number_raw_sql(sql: str, ctx: CompileContext) -> str:
    """Replace each ``{idx}`` with the query's next ``$n``, in order."""
    return _RAW_PLACEHOLDER.sub(lambda _match: ctx.param(), sql)


class RawCondition(Expression):
    """A ``where_raw()`` condition: trusted SQL text with bound ``{idx}`` parameters."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...]) -> None:
        check_raw_sql("where_raw()", sql, params)
        self.sql = sql
        self.params = params

    def shape(self) -> tuple[Any, ...]:
        return ("RAW", self.sql)

    def flatten(self, out: list[Any]) -> None:
        out.extend(self.params)

    def compile(self, ctx: CompileContext) -> str:
        return f"({number_raw_sql(self.sql, ctx)})"

    def __repr__(self) -> str:
        return f"RawCondition({self.sql!r})"


class ColumnRef(Expression):
    """An already-selected column of a wrapped query (``"_w"."rank"``)."""

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def shape(self) -> tuple[Any, ...]:
        return ("COL", self.sql)

    def compile(self, ctx: CompileContext) -> str:
        return self.sql


class Join:
    __slots__ = ("alias", "model", "sql")

    def __init__(self, alias: str, model: type[Model], sql: str) -> None:
        self.alias = alias
        self.model = model
        self.sql = sql


class _Counter:
    __slots__ = ("aliases", "transforms")

    def __init__(self) -> None:
        self.transforms: list[Transform] = []
        self.aliases = 0


class CompileContext:
    """Resolves field paths to columns (adding LEFT JOINs) and numbers parameters."""

    def __init__(
        self,
        model: type[Model],
        *,
        outer: CompileContext | None = None,
        alias: str | None = None,
        numbering: CompileContext | None = None,
    ) -> None:
        self.model = model
        self.outer = outer
        # Parameters are numbered across the whole statement: subqueries (``outer``)
        # and the query around a wrapped one (``numbering``) share one counter.
        source = numbering or outer
        self.counter: _Counter = source.counter if source is not None else _Counter()
        self.alias = alias
        self.ref = quote_name(alias) if alias else model._meta.qtable
        self.joins: dict[tuple[str, ...], Join] = {}

    @property
    def transforms(self) -> list[Transform]:
        return self.counter.transforms

    def param(self, transform: Transform = _identity) -> str:
        self.counter.transforms.append(transform)
        return f"${len(self.counter.transforms)}"

    def value_converter(self, field: Field | None) -> Transform:
        if field is None:
            return _identity
        to_db = field.to_db_value
        accepted = field.filter_types()
        enum_type = field.enum_type
        bounds = field.integer_range() if enum_type is None else None

        def convert(value: Any) -> Any:
            if isinstance(value, Model):
                value = value.pk
            if accepted is not None and not isinstance(value, accepted):
                raise _filter_value_error(field, value)
            # asyncpg refuses to encode an int outside the column's range (a DataError
            # after the query was sent); say which field and range before any SQL.
            if bounds is not None and type(value) is int and not bounds[0] <= value <= bounds[1]:
                raise FieldError(
                    f"`{field.model.__name__}.{field.name}` holds values from {bounds[0]} to "
                    f"{bounds[1]}; `{value}` is out of range"
                )
            if type(value) is str and "\x00" in value:
                raise FieldError(
                    f"`{field.model.__name__}.{field.name}` cannot be matched with a string "
                    "holding a NUL character (PostgreSQL text cannot store it)"
                )
            if enum_type is not None and not isinstance(value, enum_type):
                try:
                    value = enum_type(value)
                except ValueError:
                    raise _filter_value_error(field, value) from None
            return to_db(value)

        return convert

    def placeholder_for(self, field: Field | None) -> Callable[[str], str]:
        if field is not None and field.is_json:
            return lambda p: f"{p}::text::jsonb"
        return lambda p: p

    def from_sql(self) -> str:
        base = self.model._meta.qtable
        if self.alias:
            base += f" AS {self.ref}"
        return " ".join([base, *(join.sql for join in self.joins.values())])

    # -- name resolution ------------------------------------------------------------------

    def _join_forward(
        self, path: tuple[str, ...], field: Field, left_ref: str
    ) -> tuple[type[Model], str]:
        join = self.joins.get(path)
        if join is None:
            target = field.related_model
            self.counter.aliases += 1
            alias = f"t{self.counter.aliases}"
            qalias = quote_name(alias)
            sql = (
                f"LEFT JOIN {target._meta.qtable} AS {qalias} ON {qalias}."
                f"{quote_name(target._meta.pk.column)} = {left_ref}.{quote_name(field.column)}"
            )
            join = self.joins[path] = Join(qalias, target, sql)
        return join.model, join.alias

    def _join_reverse(
        self, path: tuple[str, ...], source: type[Model], field: Field, left_ref: str
    ) -> tuple[type[Model], str]:
        join = self.joins.get(path)
        if join is None:
            self.counter.aliases += 1
            alias = quote_name(f"t{self.counter.aliases}")
            target_pk = quote_name(field.related_model._meta.pk.column)
            sql = (
                f"LEFT JOIN {source._meta.qtable} AS {alias} ON {alias}."
                f"{quote_name(field.column)} = {left_ref}.{target_pk}"
            )
            join = self.joins[path] = Join(alias, source, sql)
        return join.model, join.alias

    def resolve(
        self, key: str, *, allow_annotations: bool = False
    ) -> tuple[str, Field | None, list[str]]:
        """``author__name__icontains`` -> (column SQL, field, remaining lookup parts)."""
        parts = key.split("__")
        model = self.model
        ref = self.ref
        path: tuple[str, ...] = ()
        i = 0
        while i < len(parts):
            name = parts[i]
            meta = model._meta
            if name == "pk":
                name = meta.pk.name
            rest = parts[i + 1 :]
            field = meta.fields.get(name)
            if field is not None:
                if (
                    field.is_relation
                    and rest
                    and rest[0] not in LOOKUPS
                    and rest[0] not in TRANSFORMS
                ):
                    path = (*path, field.relation_name)
                    model, ref = self._join_forward(path, field, ref)
                    i += 1
                    continue
                return f"{ref}.{quote_name(field.column)}", field, rest
            relation = meta.relations.get(name)
            if relation is not None:
                if not rest or rest[0] in LOOKUPS:
                    return f"{ref}.{quote_name(relation.column)}", relation, rest
                path = (*path, name)
                model, ref = self._join_forward(path, relation, ref)
                i += 1
                continue
            reverse = meta.reverse_relations.get(name)
            if reverse is not None:
                source, fk = reverse
                path = (*path, name)
                model, ref = self._join_reverse(path, source, fk, ref)
                if not rest:
                    pk = model._meta.pk
                    return f"{ref}.{quote_name(pk.column)}", pk, rest
                i += 1
                continue
            if i == 0 and name in self.annotations:
                if not allow_annotations:
                    raise FieldError(
                        f"`{key}` refers to the annotation `{name}`, which can be filtered "
                        f"(`filter({name}__gt=...)`) and ordered by, but not used inside "
                        "another expression; repeat its expression instead"
                    )
                return f"({self.annotations[name].compile(self)})", None, rest
            m2m_error = misuse_error(model, name, key, i)
            if m2m_error is not None:
                raise m2m_error
            valid = [*meta.fields, *meta.relations, *meta.reverse_relations]
            raise unknown_name_error("field", name, model.__name__, valid)
        raise FieldError(f"Empty field path in `{key}`")  # pragma: no cover

    annotations: dict[str, Expression] = {}  # noqa: RUF012 - replaced per compile, never mutated
    # Set while compiling the inside of a wrapped (window-filtered) query.
    alias_related = False

    def column(self, key: str) -> tuple[str, Field | None]:
        """Column SQL for a plain field path (no lookups allowed)."""
        sql, field, rest = self.resolve(key)
        if rest:
            for part in rest:
                if part not in TRANSFORMS:
                    raise unknown_name_error(
                        "field",
                        part,
                        (field.model.__name__ if field else ""),
                        field.model._meta.fields if field else (),
                    )
                sql = TRANSFORMS[part][0].format(sql)
                field = None
        return sql, field

    def reverse_names(self) -> set[str]:
        return set(self.model._meta.reverse_relations)

    def reverse_pk(self, name: str) -> str:
        return self.model._meta.reverse_relations[name][0]._meta.pk.name

    # -- conditions -------------------------------------------------------------------------

    def compile_leaf(self, key: str, value: Any) -> str:
        column, field, rest = self.resolve(key, allow_annotations=True)
        if (
            field is not None
            and field.is_json
            and rest
            and not (len(rest) == 1 and rest[0] in LOOKUPS)
        ):
            return build_json_path_lookup(column, rest, value, self, key)
        lookup = "exact"
        for index, part in enumerate(rest):
            if part in TRANSFORMS and index < len(rest):
                column = TRANSFORMS[part][0].format(column)
                field = None
            elif part in LOOKUPS and index == len(rest) - 1:
                lookup = part
            else:
                valid = ", ".join(f"`{name}`" for name in sorted({*LOOKUPS, *TRANSFORMS}))
                raise FieldError(f"Unknown lookup `{part}` in `{key}`; valid lookups: {valid}")
        if lookup == "in" and isinstance(value, Subquery):
            # id__in=Subquery(qs) means what id__in=qs means: IN (SELECT ...).
            value = value.queryset
        return build_lookup(lookup, column, field, value, self, key)

    def compile_q(self, q: Q) -> str:
        parts: list[str] = []
        # Conditions across a many-to-many become EXISTS subqueries (_m2m_filters.py).
        many_to_many = ManyToManyConditions(self, grouped=q.connector == Q.AND)
        for child in many_to_many.children(q):
            if isinstance(child, Q):
                sql = self.compile_q(child)
                parts.append(f"({sql})" if len(child.children) > 1 and not child.negated else sql)
            elif isinstance(child, Expression):
                parts.append(child.compile(self))
            elif not many_to_many.add(child[0], child[1], parts):
                parts.append(self.compile_leaf(child[0], child[1]))
        many_to_many.finish(parts)
        sql = f" {q.connector} ".join(parts) if parts else "TRUE"
        if q.negated:
            return f"NOT ({sql})"
        return sql

    # -- subqueries -------------------------------------------------------------------------

    def is_subquery(self, value: Any) -> bool:
        return isinstance(getattr(value, "_query", None), Query)

    def compile_subquery(self, value: Any) -> str:
        from stellate.orm.compiler import compile_select_sql

        query: Query = value._query
        self.counter.aliases += 1
        inner = CompileContext(query.model, outer=self, alias=f"s{self.counter.aliases}")
        return compile_select_sql(query, inner)
