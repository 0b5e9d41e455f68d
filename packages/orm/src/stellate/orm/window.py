"""Window functions: ``Window(Rank(), partition_by="author_id", order_by="-pages")``.

A window annotation keeps one result per row (no GROUP BY), so the queryset stays
chainable. PostgreSQL evaluates windows after WHERE, so a filter on a window
annotation (``.filter(rank__lte=3)``) wraps the query in a subquery and applies the
condition, the ordering and any slice outside it; filters on plain fields stay
inside and so decide which rows the window sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from stellate.orm.expressions import Aggregate, Expression, OrderBy, order_item, typed_value

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext

__all__ = [
    "CumeDist",
    "DenseRank",
    "FirstValue",
    "Lag",
    "LastValue",
    "Lead",
    "NthValue",
    "Ntile",
    "PercentRank",
    "Rank",
    "RowNumber",
    "Window",
]


class WindowFunction(Expression):
    """Base of functions that only exist over a window (``ROW_NUMBER()``, ``LAG(...)``)."""

    function: ClassVar[str] = ""

    def __init__(self, *expressions: Any) -> None:
        self.expressions = [typed_value(e) for e in expressions]

    def shape(self) -> tuple[Any, ...]:
        return (self.function, *(e.shape() for e in self.expressions))

    def flatten(self, out: list[Any]) -> None:
        for expression in self.expressions:
            expression.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        return f"{self.function}({', '.join(e.compile(ctx) for e in self.expressions)})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.expressions))})"


class RowNumber(WindowFunction):
    """1, 2, 3, ... in the window's order."""

    function = "ROW_NUMBER"


class Rank(WindowFunction):
    """Rank with gaps: ties share a rank, the next rank skips (1, 1, 3)."""

    function = "RANK"


class DenseRank(WindowFunction):
    """Rank without gaps (1, 1, 2)."""

    function = "DENSE_RANK"


class PercentRank(WindowFunction):
    """``(rank - 1) / (rows - 1)``, from 0 to 1."""

    function = "PERCENT_RANK"


class CumeDist(WindowFunction):
    """The fraction of rows ordered before or level with this one."""

    function = "CUME_DIST"


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got `{value!r}`")
    return value


class Ntile(WindowFunction):
    """The bucket number (1..``num_buckets``) of the row, buckets as equal as possible."""

    function = "NTILE"

    def __init__(self, num_buckets: int) -> None:
        self.buckets = _positive_int("Ntile(num_buckets)", num_buckets, 1)
        super().__init__()

    def shape(self) -> tuple[Any, ...]:
        return (self.function, self.buckets)

    def compile(self, ctx: CompileContext) -> str:
        return f"NTILE({self.buckets})"


class Lag(WindowFunction):
    """The value ``offset`` rows before this one in the window, else ``default``."""

    function = "LAG"

    def __init__(self, expression: Any, offset: int = 1, default: Any = None) -> None:
        self.offset = _positive_int(f"{type(self).__name__}(offset)", offset, 0)
        self.has_default = default is not None
        super().__init__(expression, *([default] if self.has_default else []))

    def shape(self) -> tuple[Any, ...]:
        return (*super().shape(), self.offset)

    def compile(self, ctx: CompileContext) -> str:
        # The offset is a validated int written into the SQL: with a parameter in its
        # place PostgreSQL could not pick among LAG's overloads.
        parts = [self.expressions[0].compile(ctx), str(self.offset)]
        if self.has_default:
            parts.append(self.expressions[1].compile(ctx))
        return f"{self.function}({', '.join(parts)})"


class Lead(Lag):
    """The value ``offset`` rows after this one in the window, else ``default``."""

    function = "LEAD"


class FirstValue(WindowFunction):
    """The expression's value on the window frame's first row."""

    function = "FIRST_VALUE"

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)


class LastValue(WindowFunction):
    """The expression's value on the frame's last row (by default: the current row's peers)."""

    function = "LAST_VALUE"

    def __init__(self, expression: Any) -> None:
        super().__init__(expression)


class NthValue(WindowFunction):
    """The expression's value on the frame's ``nth`` row (1-based), else NULL."""

    function = "NTH_VALUE"

    def __init__(self, expression: Any, nth: int = 1) -> None:
        self.nth = _positive_int("NthValue(nth)", nth, 1)
        super().__init__(expression)

    def shape(self) -> tuple[Any, ...]:
        return (*super().shape(), self.nth)

    def compile(self, ctx: CompileContext) -> str:
        return f"NTH_VALUE({self.expressions[0].compile(ctx)}, {self.nth})"


def _frame_bound(value: int | None, start: bool) -> str:
    if value is None:
        return "UNBOUNDED PRECEDING" if start else "UNBOUNDED FOLLOWING"
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"Window frame bounds are integers or None, got `{value!r}`")
    if value == 0:
        return "CURRENT ROW"
    return f"{-value} PRECEDING" if value < 0 else f"{value} FOLLOWING"


class Window(Expression):
    """``expression OVER (PARTITION BY ... ORDER BY ... [ROWS BETWEEN ...])``.

    Args:
        expression: a window function (``RowNumber()``, ``Rank()``, ``Lag("pages")``)
            or an aggregate (``Sum("pages")``, ``Avg(...)``, ``Count("*")``).
        partition_by: field names or expressions restarting the window.
        order_by: ``"-pages"``, ``F("title")`` or ``Lower("title").desc()`` items.
        rows: a ``ROWS BETWEEN`` frame as ``(start, end)`` offsets from the current row:
            negative = preceding, 0 = current row, ``None`` = unbounded; e.g.
            ``rows=(None, 0)`` for a running total, ``rows=(-2, 0)`` for the last three.

    Example:
        ``Book.objects.annotate(rank=Window(Rank(), partition_by="author_id",
        order_by="-pages")).filter(rank__lte=3)``
    """

    contains_window = True

    def __init__(
        self,
        expression: Expression,
        partition_by: str | Expression | Sequence[str | Expression] | None = None,
        order_by: str | Expression | Sequence[str | Expression] | None = None,
        rows: tuple[int | None, int | None] | None = None,
    ) -> None:
        if not isinstance(expression, WindowFunction | Aggregate):
            raise TypeError(
                f"Window() takes a window function (RowNumber(), Rank(), Lag(...)) or an "
                f"aggregate (Sum(...), Count(...)), got `{expression!r}`"
            )
        self.expression = expression
        self.partition_by = [typed_value(p) for p in _as_list(partition_by)]
        self.order_by: list[OrderBy] = [order_item(o) for o in _as_list(order_by)]
        self.frame: str | None = None
        if rows is not None:
            start, end = rows
            self.frame = f"ROWS BETWEEN {_frame_bound(start, True)} AND {_frame_bound(end, False)}"

    def shape(self) -> tuple[Any, ...]:
        return (
            "OVER",
            self.expression.shape(),
            tuple(p.shape() for p in self.partition_by),
            tuple(o.shape() for o in self.order_by),
            self.frame,
        )

    def flatten(self, out: list[Any]) -> None:
        self.expression.flatten(out)
        for partition in self.partition_by:
            partition.flatten(out)
        for order in self.order_by:
            order.flatten(out)

    def compile(self, ctx: CompileContext) -> str:
        clauses = []
        if self.partition_by:
            clauses.append(f"PARTITION BY {', '.join(p.compile(ctx) for p in self.partition_by)}")
        if self.order_by:
            clauses.append(f"ORDER BY {', '.join(o.compile(ctx) for o in self.order_by)}")
        if self.frame:
            clauses.append(self.frame)
        return f"{self.expression.compile(ctx)} OVER ({' '.join(clauses)})"

    def __repr__(self) -> str:
        return f"Window({self.expression!r})"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Expression):
        return [value]
    return list(value)
