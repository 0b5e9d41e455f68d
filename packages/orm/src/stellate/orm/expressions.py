"""Query expressions: ``Q`` conditions, ``F`` column references, values, aggregates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext
    from stellate.orm.queryset import QuerySet

__all__ = [
    "Aggregate",
    "Avg",
    "Case",
    "Coalesce",
    "Count",
    "Exists",
    "Expression",
    "F",
    "Max",
    "Min",
    "OrderBy",
    "OuterRef",
    "Q",
    "Subquery",
    "Sum",
    "Value",
    "When",
]


class Q:
    """A composable filter condition: ``Q(a=1) | Q(b=2)``, ``Q(x=1) & ~Q(y=2)``.

    Keyword conditions inside one ``Q`` are ANDed, exactly as in ``filter()``.
    """

    __slots__ = ("children", "connector", "negated")

    AND = "AND"
    OR = "OR"

    def __init__(self, *args: Q | Expression, **kwargs: Any) -> None:
        for arg in args:
            if not isinstance(arg, Q | Expression):
                raise TypeError(
                    f"Positional filter arguments must be `Q` or expressions, got "
                    f"`{arg!r}`; pass field conditions as keywords: `filter(name=...)`"
                )
        self.children: list[Q | Expression | tuple[str, Any]] = [*args, *kwargs.items()]
        self.connector = Q.AND
        self.negated = False

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            raise TypeError(f"Cannot combine `Q` with `{other!r}`; wrap it in `Q(...)`")
        combined = Q()
        combined.connector = connector
        combined.children = [self, other]
        return combined

    def __and__(self, other: Q) -> Q:
        return self._combine(other, Q.AND)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, Q.OR)

    def __invert__(self) -> Q:
        inverted = Q()
        inverted.children = [self]
        inverted.negated = True
        return inverted

    def __bool__(self) -> bool:
        return bool(self.children)

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}Q({inner})"


class Expression:
    """Base of SQL expressions. Subclasses implement ``shape``, ``flatten`` and ``compile``.

    ``shape()`` identifies the SQL an expression compiles to (without its literal values),
    ``flatten()`` lists its literal values in compile order; together they let a
    queryset reuse cached SQL with new parameters.
    """

    def shape(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def flatten(self, out: list[Any]) -> None:
        """Append this expression's literal values, in the order ``compile`` binds them."""

    def compile(self, ctx: CompileContext) -> str:
        raise NotImplementedError

    contains_aggregate = False
    # Window functions cannot appear in WHERE: a filter on them wraps the query.
    contains_window = False

    def asc(self, *, nulls_first: bool | None = None) -> OrderBy:
        """This expression as an ascending ``order_by()`` item."""
        return OrderBy(self, descending=False, nulls_first=nulls_first)

    def desc(self, *, nulls_first: bool | None = None) -> OrderBy:
        """This expression as a descending ``order_by()`` item."""
        return OrderBy(self, descending=True, nulls_first=nulls_first)

    def _arith(self, op: str, other: Any, reverse: bool = False) -> Combined:
        rhs = other if isinstance(other, Expression) else Value(other)
        return Combined(rhs, op, self) if reverse else Combined(self, op, rhs)

    def __add__(self, other: Any) -> Combined:
        return self._arith("+", other)

    def __radd__(self, other: Any) -> Combined:
        return self._arith("+", other, reverse=True)

    def __sub__(self, other: Any) -> Combined:
        return self._arith("-", other)

    def __rsub__(self, other: Any) -> Combined:
        return self._arith("-", other, reverse=True)

    def __mul__(self, other: Any) -> Combined:
        return self._arith("*", other)

    def __rmul__(self, other: Any) -> Combined:
        return self._arith("*", other, reverse=True)

    def __truediv__(self, other: Any) -> Combined:
        return self._arith("/", other)

    def __rtruediv__(self, other: Any) -> Combined:
        return self._arith("/", other, reverse=True)

    def __mod__(self, other: Any) -> Combined:
        return self._arith("%", other)

    def __neg__(self) -> Combined:
        return Combined(Value(0), "-", self)


class F(Expression):
    """A reference to a column of the row: ``F("score") + 1``, ``F("author__name")``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def shape(self) -> tuple[Any, ...]:
        return ("F", self.name)

    def compile(self, ctx: CompileContext) -> str:
        return ctx.column(self.name)[0]

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class UnboundOuterRefError(ValueError):
    """An ``OuterRef`` compiled outside a subquery (``to_sql()`` of the inner queryset)."""


class OuterRef(F):
    """A column of the outer query, inside an ``Exists(...)`` subquery's filter."""

    def shape(self) -> tuple[Any, ...]:
        return ("OuterRef", self.name)

    def compile(self, ctx: CompileContext) -> str:
        if ctx.outer is None:
            raise UnboundOuterRefError(
                f"`OuterRef({self.name!r})` is only valid inside `Exists(...)` or "
                "`Subquery(...)` of another query"
            )
        return ctx.outer.column(self.name)[0]


class Value(Expression):
    """A literal value bound as a query parameter.

    ``output_field`` (a Python type such as ``int`` or ``str``) casts the parameter,
    for places where PostgreSQL cannot infer its type (a bare ``annotate(x=Value(1))``
    or ``CASE`` results; ``Case``/``When`` add it by themselves).
    """

    __slots__ = ("cast", "value")

    def __init__(self, value: Any, output_field: type | None = None) -> None:
        self.value = value
        if output_field is None:
            # PostgreSQL infers a parameter's type from its context (``pages * $1``
            # makes $1 an integer), which would truncate 0.5; fractional values get a
            # cast.
            self.cast = _VALUE_CASTS.get(type(value))
        else:
            self.cast = sql_type_of(output_field, f"Value({value!r})")

    def shape(self) -> tuple[Any, ...]:
        return ("V", self.cast) if self.cast else ("V",)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.value)

    def compile(self, ctx: CompileContext) -> str:
        placeholder = ctx.param(_identity)
        return f"{placeholder}::{self.cast}" if self.cast else placeholder

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


_VALUE_CASTS: dict[type, str] = {float: "double precision", Decimal: "numeric"}

# Python type -> the SQL type a parameter of it is cast to where the context says none.
_SQL_TYPES: dict[type, str] = {
    bool: "boolean",
    int: "bigint",
    float: "double precision",
    Decimal: "numeric",
    str: "text",
    bytes: "bytea",
    dt.datetime: "timestamptz",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "interval",
    UUID: "uuid",
}


def sql_type_of(python_type: type, where: str) -> str:
    """The SQL type for ``output_field=python_type``; a clear error for others."""
    sql_type = _SQL_TYPES.get(python_type)
    if sql_type is None:
        allowed = ", ".join(f"`{t.__name__}`" for t in _SQL_TYPES)
        raise TypeError(
            f"{where}: output_field `{getattr(python_type, '__name__', python_type)!s}` is not "
            f"supported; use one of {allowed}"
        )
    return sql_type


def typed_value(value: Any) -> Expression:
    """``value`` as an expression whose SQL type PostgreSQL knows without context.

    Strings are field names (``F``) as everywhere else; wrap text in ``Value("...")``.
    """
    if isinstance(value, Value):
        if value.cast is not None or value.value is None:
            return value
        value = value.value
    elif isinstance(value, Expression):
        return value
    elif isinstance(value, str):
        return F(value)
    if value is None:
        return Value(None)
    kind = type(value)
    if kind is dt.datetime and value.tzinfo is None:
        return _NaiveTimestamp(value)
    for python_type in _SQL_TYPES:
        if isinstance(value, python_type):  # bool is listed before int
            return Value(value, output_field=python_type)
    return Value(value, output_field=kind)


class _NaiveTimestamp(Value):
    __slots__ = ()

    def __init__(self, value: dt.datetime) -> None:
        super().__init__(value)
        self.cast = "timestamp"


def _identity(value: Any) -> Any:
    return value


class Combined(Expression):
    """``lhs <op> rhs`` arithmetic."""

    __slots__ = ("lhs", "op", "rhs")

    def __init__(self, lhs: Expression, op: str, rhs: Expression) -> None:
        self.lhs = lhs
        self.op = op
        self.rhs = rhs

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return self.lhs.contains_aggregate or self.rhs.contains_aggregate

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return self.lhs.contains_window or self.rhs.contains_window

    def shape(self) -> tuple[Any, ...]:
        return ("C", self.op, self.lhs.shape(), self.rhs.shape())

    def flatten(self, out: list[Any]) -> None:
        self.lhs.flatten(out)
        self.rhs.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        return f"({self.lhs.compile(ctx)} {self.op} {self.rhs.compile(ctx)})"

    def __repr__(self) -> str:
        return f"({self.lhs!r} {self.op} {self.rhs!r})"


def _as_expression(value: Any) -> Expression:
    if isinstance(value, Expression):
        return value
    if isinstance(value, str):
        return F(value)
    return Value(value)


class Aggregate(Expression):
    """Base of aggregate functions; ``filter=Q(...)`` adds a FILTER (WHERE ...) clause."""

    function = ""
    contains_aggregate = True
    cast: str | None = None

    def __init__(
        self, expression: str | Expression, *, filter: Q | None = None, distinct: bool = False
    ) -> None:
        self.source = _as_expression(expression)
        self.filter = filter
        self.distinct = distinct

    @property
    def default_alias(self) -> str:
        name = self.source.name if isinstance(self.source, F) else "expr"
        return f"{name}__{self.function.lower()}"

    def shape(self) -> tuple[Any, ...]:
        from stellate.orm._context import q_shape

        flt = q_shape(self.filter) if self.filter is not None else None
        return (self.function, self.distinct, self.source.shape(), flt)

    def flatten(self, out: list[Any]) -> None:
        from stellate.orm._context import q_flatten

        self.source.flatten(out)
        if self.filter is not None:
            q_flatten(self.filter, out)

    def compile(self, ctx: CompileContext) -> str:
        inner = self.source.compile(ctx)
        distinct = "DISTINCT " if self.distinct else ""
        sql = f"{self.function}({distinct}{inner})"
        if self.filter is not None:
            sql += f" FILTER (WHERE {ctx.compile_q(self.filter)})"
        if self.cast:
            sql = f"({sql})::{self.cast}"
        return sql

    def convert(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"


class Count(Aggregate):
    """``COUNT(column)``; ``Count("*")`` counts rows; ``Count("books")`` counts related rows."""

    function = "COUNT"

    def __init__(
        self, expression: str | Expression = "*", *, filter: Q | None = None, distinct: bool = False
    ) -> None:
        super().__init__(expression, filter=filter, distinct=distinct)

    def compile(self, ctx: CompileContext) -> str:
        if isinstance(self.source, F) and self.source.name == "*":
            sql = "COUNT(*)"
            if self.filter is not None:
                sql += f" FILTER (WHERE {ctx.compile_q(self.filter)})"
            return sql
        if isinstance(self.source, F) and self.source.name in ctx.reverse_names():
            # Counting a reverse relation counts the related rows' primary keys.
            pk_expr = F(f"{self.source.name}__{ctx.reverse_pk(self.source.name)}")
            counted = Count(pk_expr, filter=self.filter, distinct=self.distinct)
            return counted.compile(ctx)
        return super().compile(ctx)

    @property
    def default_alias(self) -> str:
        if isinstance(self.source, F) and self.source.name == "*":
            return "count"
        return super().default_alias


class Sum(Aggregate):
    """``SUM(column)`` (``None`` over no rows; wrap in ``Coalesce`` for 0)."""

    function = "SUM"


class Avg(Aggregate):
    """``AVG(column)``."""

    function = "AVG"


class Min(Aggregate):
    """``MIN(column)``."""

    function = "MIN"


class Max(Aggregate):
    """``MAX(column)``."""

    function = "MAX"


class Coalesce(Expression):
    """The first non-NULL of its arguments: ``Coalesce(Sum("pages"), 0)``.

    String arguments are field names; other plain values are bound as parameters.
    """

    def __init__(self, *expressions: Any) -> None:
        if len(expressions) < 2:
            raise TypeError("Coalesce needs at least two expressions")
        self.expressions = [_as_expression(e) for e in expressions]

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return any(e.contains_aggregate for e in self.expressions)

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return any(e.contains_window for e in self.expressions)

    @property
    def default_alias(self) -> str:
        first = self.expressions[0]
        return f"{getattr(first, 'default_alias', 'expr')}__coalesce"

    def shape(self) -> tuple[Any, ...]:
        return ("COALESCE", *(e.shape() for e in self.expressions))

    def flatten(self, out: list[Any]) -> None:
        for e in self.expressions:
            e.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        return f"COALESCE({', '.join(e.compile(ctx) for e in self.expressions)})"


class Exists(Expression):
    """``EXISTS (subquery)``, typically correlated with ``OuterRef``; ``~Exists`` negates."""

    def __init__(self, queryset: QuerySet[Any], *, negated: bool = False) -> None:
        self.queryset = queryset
        self.negated = negated

    def __invert__(self) -> Exists:
        return Exists(self.queryset, negated=not self.negated)

    def shape(self) -> tuple[Any, ...]:
        return ("EXISTS", self.negated, self.queryset._query.shape())

    def flatten(self, out: list[Any]) -> None:
        from stellate.orm.compiler import compiles_order, selects_annotations

        query = self.queryset._query
        query.flatten(
            out,
            select_annotations=selects_annotations(query, "exists"),
            ordering=compiles_order(query, "exists"),
        )

    def compile(self, ctx: CompileContext) -> str:
        from stellate.orm.compiler import compile_exists_subquery

        sql = compile_exists_subquery(self.queryset._query, ctx)
        return f"{'NOT ' if self.negated else ''}EXISTS ({sql})"


class OrderBy(Expression):
    """An ``order_by()`` item: ``Lower("title").desc(nulls_first=False)``."""

    __slots__ = ("descending", "expression", "nulls_first")

    def __init__(
        self, expression: Expression, *, descending: bool = False, nulls_first: bool | None = None
    ) -> None:
        if not isinstance(expression, Expression):
            raise TypeError(f"OrderBy needs an expression, got `{expression!r}`")
        self.expression = expression
        self.descending = descending
        self.nulls_first = nulls_first

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return self.expression.contains_window

    def reversed(self) -> OrderBy:
        """The opposite direction (``QuerySet.last()``); NULLs move to the other end too."""
        nulls = None if self.nulls_first is None else not self.nulls_first
        return OrderBy(self.expression, descending=not self.descending, nulls_first=nulls)

    def shape(self) -> tuple[Any, ...]:
        return ("ORDER", self.descending, self.nulls_first, self.expression.shape())

    def flatten(self, out: list[Any]) -> None:
        self.expression.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        sql = f"{self.expression.compile(ctx)} {'DESC' if self.descending else 'ASC'}"
        if self.nulls_first is not None:
            sql += " NULLS FIRST" if self.nulls_first else " NULLS LAST"
        return sql

    def __repr__(self) -> str:
        return f"{self.expression!r}.{'desc' if self.descending else 'asc'}()"


def order_item(item: str | Expression) -> OrderBy:
    """``"-pages"`` / ``F("pages")`` / ``Lower("title").desc()`` as an ``OrderBy``."""
    if isinstance(item, OrderBy):
        return item
    if isinstance(item, Expression):
        return OrderBy(item)
    if not isinstance(item, str) or not item.lstrip("-"):
        raise TypeError(f"Order by a field name or an expression, got `{item!r}`")
    if item.startswith("-"):
        return OrderBy(F(item[1:]), descending=True)
    return OrderBy(F(item))


class Subquery(Expression):
    """A scalar subquery: the one column, one row of ``queryset`` as a value.

    The queryset selects one column (``.values("field")``) and usually one row
    (``[:1]``); it may refer to the outer row with ``OuterRef``:
    ``Subquery(Comment.objects.filter(book_id=OuterRef("id")).order_by("-id").values("body")[:1])``.
    More than one row is an error raised by PostgreSQL; no row gives NULL.
    """

    def __init__(self, queryset: QuerySet[Any]) -> None:
        query = getattr(queryset, "_query", None)
        if query is None:
            raise TypeError(f"Subquery needs a queryset, got `{queryset!r}`")
        selected = query.values_fields
        if query.values_mode is None or len(selected) != 1:
            raise ValueError(
                f"Subquery of `{query.model.__name__}` must select exactly one column; "
                "end the queryset with `.values('field')` (or `.values_list('field')`)"
            )
        self.queryset = queryset

    def shape(self) -> tuple[Any, ...]:
        return ("SUBQUERY", self.queryset._query.shape())

    def flatten(self, out: list[Any]) -> None:
        self.queryset._query.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        return f"({ctx.compile_subquery(self.queryset)})"

    def __repr__(self) -> str:
        return f"Subquery({self.queryset._query.model.__name__})"


class When(Expression):
    """One branch of ``Case``: ``When(pages__gt=300, then=Value("long"))``.

    The condition is a ``Q``, an expression such as ``Exists(...)``, or lookups given
    as keywords (ANDed). ``then`` strings are field names, as in ``F``; wrap text in
    ``Value("...")``.
    """

    def __init__(
        self, condition: Q | Expression | None = None, *, then: Any, **lookups: Any
    ) -> None:
        if condition is None and not lookups:
            raise TypeError("When() needs a condition: a `Q`, an expression or field lookups")
        parts: list[Q | Expression] = [] if condition is None else [condition]
        self.condition = Q(*parts, **lookups)
        self.result = typed_value(then)

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return self.result.contains_aggregate

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return self.result.contains_window

    def shape(self) -> tuple[Any, ...]:
        from stellate.orm._context import q_shape

        return ("WHEN", q_shape(self.condition), self.result.shape())

    def flatten(self, out: list[Any]) -> None:
        from stellate.orm._context import q_flatten

        q_flatten(self.condition, out)
        self.result.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        from stellate.orm._context import q_references

        if ctx.annotations and q_references(self.condition, frozenset(ctx.annotations)):
            raise ValueError(
                f"`When({self.condition!r})` refers to an annotation; repeat the annotation's "
                "expression in the condition instead"
            )
        return f"WHEN {ctx.compile_q(self.condition)} THEN {self.result.compile(ctx)}"

    def __repr__(self) -> str:
        return f"When({self.condition!r}, then={self.result!r})"


class Case(Expression):
    """``CASE WHEN ... THEN ... ELSE default END``; the first matching ``When`` wins.

    ``default`` (``None``: NULL) follows the rules of ``then``; ``output_field`` (a
    Python type) casts the result, e.g. when every branch is NULL.
    """

    def __init__(self, *cases: When, default: Any = None, output_field: type | None = None) -> None:
        if not cases:
            raise TypeError("Case() needs at least one `When(...)`")
        for case in cases:
            if not isinstance(case, When):
                raise TypeError(f"Case() takes `When(...)` branches, got `{case!r}`")
        self.cases = cases
        self.default = typed_value(default)
        self.cast = sql_type_of(output_field, "Case()") if output_field is not None else None

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return self.default.contains_aggregate or any(c.contains_aggregate for c in self.cases)

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return self.default.contains_window or any(c.contains_window for c in self.cases)

    def shape(self) -> tuple[Any, ...]:
        return ("CASE", self.cast, tuple(c.shape() for c in self.cases), self.default.shape())

    def flatten(self, out: list[Any]) -> None:
        for case in self.cases:
            case.flatten(out)
        self.default.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        branches = " ".join(case.compile(ctx) for case in self.cases)
        sql = f"CASE {branches} ELSE {self.default.compile(ctx)} END"
        return f"({sql})::{self.cast}" if self.cast else sql

    def __repr__(self) -> str:
        return f"Case({', '.join(map(repr, self.cases))}, default={self.default!r})"
