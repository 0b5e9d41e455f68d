"""Query expressions: ``Q`` conditions, ``F`` column references, values, aggregates."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext
    from stellate.orm.queryset import QuerySet

__all__ = [
    "Aggregate",
    "Avg",
    "Coalesce",
    "Count",
    "Exists",
    "Expression",
    "F",
    "Max",
    "Min",
    "OuterRef",
    "Q",
    "Sum",
    "Value",
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


class OuterRef(F):
    """A column of the outer query, inside an ``Exists(...)`` subquery's filter."""

    def shape(self) -> tuple[Any, ...]:
        return ("OuterRef", self.name)

    def compile(self, ctx: CompileContext) -> str:
        if ctx.outer is None:
            raise ValueError(
                f"`OuterRef({self.name!r})` is only valid inside `Exists(...)` of another query"
            )
        return ctx.outer.column(self.name)[0]


class Value(Expression):
    """A literal value bound as a query parameter."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def shape(self) -> tuple[Any, ...]:
        cast = _VALUE_CASTS.get(type(self.value))
        return ("V", cast) if cast else ("V",)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.value)

    def compile(self, ctx: CompileContext) -> str:
        # PostgreSQL infers a parameter's type from its context (``pages * $1`` makes
        # $1 an integer), which would truncate 0.5; fractional values get a cast.
        cast = _VALUE_CASTS.get(type(self.value))
        placeholder = ctx.param(_identity)
        return f"{placeholder}::{cast}" if cast else placeholder

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


_VALUE_CASTS: dict[type, str] = {float: "double precision", Decimal: "numeric"}


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
        self.queryset._query.flatten(out, select_annotations=False)

    def compile(self, ctx: CompileContext) -> str:
        from stellate.orm.compiler import compile_exists_subquery

        sql = compile_exists_subquery(self.queryset._query, ctx)
        return f"{'NOT ' if self.negated else ''}EXISTS ({sql})"
