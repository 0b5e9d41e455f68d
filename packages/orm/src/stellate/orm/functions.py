"""SQL functions as expressions: ``Lower("title")``, ``Concat("first", Value(" "), "last")``.

Usable wherever an expression is: ``annotate()``, filter values, ``order_by()`` and
``update()``. String arguments are field names (as in ``F``); other plain values are
bound as parameters. A custom function is a ``Func`` subclass naming ``function``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from stellate.orm.expressions import Coalesce, Expression, sql_type_of, typed_value

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext

__all__ = [
    "Abs",
    "Cast",
    "Coalesce",
    "Concat",
    "Extract",
    "Func",
    "Greatest",
    "Least",
    "Length",
    "Lower",
    "Now",
    "NullIf",
    "Trim",
    "Trunc",
    "Upper",
]

_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class Func(Expression):
    """``FUNCTION(arg, ...)``: subclass with ``function = "name"`` (and ``arity``).

    Example:
        ``class Initcap(Func): function = "INITCAP"; arity = 1``
    """

    function: ClassVar[str] = ""
    # None: any number of arguments.
    arity: ClassVar[int | None] = None

    def __init__(self, *expressions: Any) -> None:
        name = type(self).__name__
        if not _FUNCTION_NAME.fullmatch(self.function):
            raise TypeError(
                f"`{name}.function` must be an SQL function name, got `{self.function}`"
            )
        if self.arity is not None and len(expressions) != self.arity:
            raise TypeError(
                f"`{name}` takes {self.arity} argument{'s' * (self.arity != 1)}, "
                f"got {len(expressions)}"
            )
        self.expressions = [typed_value(e) for e in expressions]

    @property
    def contains_aggregate(self) -> bool:  # type: ignore[override]
        return any(e.contains_aggregate for e in self.expressions)

    @property
    def contains_window(self) -> bool:  # type: ignore[override]
        return any(e.contains_window for e in self.expressions)

    @property
    def default_alias(self) -> str:
        first = self.expressions[0] if self.expressions else None
        name = getattr(first, "name", "expr")
        return f"{name}__{type(self).__name__.lower()}"

    def shape(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.function, *(e.shape() for e in self.expressions))

    def flatten(self, out: list[Any]) -> None:
        for expression in self.expressions:
            expression.flatten(out)

    def compile_arguments(self, ctx: CompileContext) -> list[str]:
        return [e.compile(ctx) for e in self.expressions]

    def compile(self, ctx: CompileContext) -> str:
        return f"{self.function}({', '.join(self.compile_arguments(ctx))})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.expressions))})"


class Lower(Func):
    """``LOWER(text)``."""

    function = "LOWER"
    arity = 1


class Upper(Func):
    """``UPPER(text)``."""

    function = "UPPER"
    arity = 1


class Length(Func):
    """``LENGTH(text)``: the number of characters (NULL stays NULL)."""

    function = "LENGTH"
    arity = 1


class Trim(Func):
    """``BTRIM(text)``: spaces removed from both ends."""

    function = "BTRIM"
    arity = 1


class Abs(Func):
    """``ABS(number)``."""

    function = "ABS"
    arity = 1


class Greatest(Func):
    """``GREATEST(a, b, ...)``: the largest non-NULL argument."""

    function = "GREATEST"


class Least(Func):
    """``LEAST(a, b, ...)``: the smallest non-NULL argument."""

    function = "LEAST"


class NullIf(Func):
    """``NULLIF(a, b)``: NULL when both are equal, else ``a``."""

    function = "NULLIF"
    arity = 2


class Now(Func):
    """The transaction's start time, ``NOW()`` (one value for the whole statement)."""

    function = "NOW"
    arity = 0


class Concat(Func):
    """Text of the arguments joined; NULL arguments count as empty text.

    Each argument is cast to text, so numbers and parameters mix freely:
    ``Concat("title", Value(" ("), "pages", Value(")"))``.
    """

    function = "CONCAT"

    def __init__(self, *expressions: Any) -> None:
        if len(expressions) < 2:
            raise TypeError("Concat needs at least two expressions")
        super().__init__(*expressions)

    def compile_arguments(self, ctx: CompileContext) -> list[str]:
        return [f"({sql})::text" for sql in super().compile_arguments(ctx)]


class Cast(Func):
    """``CAST(expression AS type)`` for ``output_field`` a Python type (``int``, ``str``,
    ``Decimal``, ``dt.date``, ...): ``Cast("pages", output_field=str)``."""

    function = "CAST"
    arity = 1

    def __init__(self, expression: Any, *, output_field: type) -> None:
        super().__init__(expression)
        self.sql_type = sql_type_of(output_field, "Cast()")

    def shape(self) -> tuple[Any, ...]:
        return (*super().shape(), self.sql_type)

    def compile(self, ctx: CompileContext) -> str:
        return f"CAST({self.compile_arguments(ctx)[0]} AS {self.sql_type})"


_EXTRACT_PARTS = frozenset(
    {
        "year",
        "quarter",
        "month",
        "week",
        "day",
        "dow",
        "isodow",
        "doy",
        "hour",
        "minute",
        "second",
        "epoch",
    }
)
_TRUNC_KINDS = frozenset({"year", "quarter", "month", "week", "day", "hour", "minute", "second"})


def _checked(name: str, value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        choices = ", ".join(f"`{v}`" for v in sorted(allowed))
        raise ValueError(f"{name} `{value}` is not one of {choices}")
    return value


class Extract(Func):
    """A part of a date or time as a number: ``Extract("created_at", "year")``.

    Parts: year, quarter, month, week, day, dow (0 = Sunday), isodow (7 = Sunday), doy,
    hour, minute, second, epoch. Whole parts are integers, ``second``/``epoch`` decimals.
    """

    function = "EXTRACT"
    arity = 1

    def __init__(self, expression: Any, part: str) -> None:
        super().__init__(expression)
        self.part = _checked("Extract part", part, _EXTRACT_PARTS)

    def shape(self) -> tuple[Any, ...]:
        return (*super().shape(), self.part)

    def compile(self, ctx: CompileContext) -> str:
        sql = f"EXTRACT({self.part.upper()} FROM {self.compile_arguments(ctx)[0]})"
        return sql if self.part in ("second", "epoch") else f"({sql})::int"


class Trunc(Func):
    """A timestamp or date cut down to its ``kind``: ``Trunc("created_at", "month")``
    (``date_trunc``; on a timestamptz the cut happens in the session's time zone).

    Kinds: year, quarter, month, week, day, hour, minute, second.
    """

    function = "DATE_TRUNC"
    arity = 1

    def __init__(self, expression: Any, kind: str) -> None:
        super().__init__(expression)
        self.kind = _checked("Trunc kind", kind, _TRUNC_KINDS)

    def shape(self) -> tuple[Any, ...]:
        return (*super().shape(), self.kind)

    def compile(self, ctx: CompileContext) -> str:
        # The kind is one of a fixed set, written as a literal: date_trunc's first
        # argument decides its result, so it cannot be a parameter of a cached plan.
        return f"DATE_TRUNC('{self.kind}', {self.compile_arguments(ctx)[0]})"
