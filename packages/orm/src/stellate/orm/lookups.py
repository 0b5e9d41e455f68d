"""Field lookups (``title__icontains=``) and transforms (``created_at__year=``) as SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stellate.orm.exceptions import FieldError

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext
    from stellate.orm.fields import Field

__all__ = ["LOOKUPS", "TRANSFORMS", "build_lookup", "like_escape"]

_COMPARISONS = {"exact": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_LIKE = {
    "contains": ("LIKE", "%{}%"),
    "icontains": ("ILIKE", "%{}%"),
    "startswith": ("LIKE", "{}%"),
    "istartswith": ("ILIKE", "{}%"),
    "endswith": ("LIKE", "%{}"),
    "iendswith": ("ILIKE", "%{}"),
}
LOOKUPS = frozenset(
    {
        *_COMPARISONS,
        *_LIKE,
        "iexact",
        "in",
        "range",
        "isnull",
        "regex",
        "iregex",
        "has_key",
        "has_keys",
        "has_any_keys",
        "contained_by",
    }
)

# name -> (SQL template around the column, result type name for later lookups)
TRANSFORMS: dict[str, tuple[str, str]] = {
    "year": ("EXTRACT(YEAR FROM {})::int", "int"),
    "month": ("EXTRACT(MONTH FROM {})::int", "int"),
    "day": ("EXTRACT(DAY FROM {})::int", "int"),
    "hour": ("EXTRACT(HOUR FROM {})::int", "int"),
    "minute": ("EXTRACT(MINUTE FROM {})::int", "int"),
    "week_day": ("EXTRACT(ISODOW FROM {})::int", "int"),
    "date": ("({})::date", "date"),
    "lower": ("LOWER({})", "str"),
    "upper": ("UPPER({})", "str"),
    "length": ("LENGTH({})", "int"),
}


def like_escape(value: str) -> str:
    """Escape LIKE wildcards so user text matches literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _is_array(field: Field | None) -> bool:
    return field is not None and field.db_type().rstrip().endswith("]")


def _is_text(field: Field | None) -> bool:
    return field is not None and field.db_type().upper() in ("TEXT", "VARCHAR", "CITEXT")


def build_lookup(
    lookup: str,
    column: str,
    field: Field | None,
    value: Any,
    ctx: CompileContext,
    key: str,
) -> str:
    """The SQL condition for ``column <lookup> value``; binds parameters through ``ctx``.

    ``field`` is ``None`` after a transform (the column is then a computed value).
    """
    from stellate.orm.expressions import Expression

    to_db: Callable[[Any], Any] = ctx.value_converter(field)
    placeholder = ctx.placeholder_for(field)
    if isinstance(value, Expression):
        op = _COMPARISONS.get(lookup)
        if op is None:
            raise FieldError(
                f"Lookup `{lookup}` in `{key}` does not accept an expression; use one of "
                f"{', '.join(f'`{k}`' for k in _COMPARISONS)}"
            )
        return f"{column} {op} {value.compile(ctx)}"
    if ctx.is_subquery(value):
        if lookup not in ("in", "exact"):
            raise FieldError(f"A queryset is only accepted by `__in`, not `{key}`")
        return f"{column} IN ({ctx.compile_subquery(value)})"
    if lookup == "isnull":
        if not isinstance(value, bool):
            raise FieldError(f"`{key}` takes True or False, got `{value!r}`")
        return f"{column} IS {'' if value else 'NOT '}NULL"
    if value is None:
        if lookup == "exact":
            return f"{column} IS NULL"
        if lookup == "ne":
            return f"{column} IS NOT NULL"
        raise FieldError(f"`{key}=None` is not a valid filter; use `__isnull=True` to match NULL")
    if lookup in _COMPARISONS:
        if lookup == "exact" and field is not None and field.is_json:
            return f"{column} = {placeholder(ctx.param(to_db))}"
        return f"{column} {_COMPARISONS[lookup]} {placeholder(ctx.param(to_db))}"
    if lookup == "iexact":
        return f"LOWER({column}) = LOWER({ctx.param(str)})"
    if lookup in _LIKE:
        if lookup == "contains" and field is not None and field.is_json:
            return f"{column} @> {placeholder(ctx.param(to_db))}"
        if lookup == "contains" and _is_array(field):
            return f"{column} @> {ctx.param(to_db)}"
        operator, pattern = _LIKE[lookup]
        return (
            f"{column if _is_text(field) else f'{column}::text'} {operator} "
            f"{ctx.param(lambda v: pattern.format(like_escape(str(v))))}"
        )
    if lookup == "contained_by":
        if field is not None and field.is_json:
            return f"{column} <@ {placeholder(ctx.param(to_db))}"
        return f"{column} <@ {ctx.param(to_db)}"
    if lookup == "in":
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise FieldError(f"`{key}` takes a list of values, got `{value!r}`")
        if field is not None and field.is_json:
            raise FieldError(f"`{key}`: `__in` is not supported on JSON fields")
        return f"{column} = ANY({ctx.param(lambda v: [to_db(x) for x in v])})"
    if lookup == "range":
        if isinstance(value, str) or len(value) != 2:
            raise FieldError(f"`{key}` takes a (low, high) pair, got `{value!r}`")
        return f"{column} BETWEEN {ctx.param(to_db)} AND {ctx.param(to_db)}"
    if lookup in ("regex", "iregex"):
        column = column if _is_text(field) else f"{column}::text"
        return f"{column} {'~' if lookup == 'regex' else '~*'} {ctx.param(str)}"
    if lookup == "has_key":
        return f"{column} ? {ctx.param(str)}"
    if lookup in ("has_keys", "has_any_keys"):
        operator = "?&" if lookup == "has_keys" else "?|"
        return f"{column} {operator} {ctx.param(lambda v: [str(x) for x in v])}::text[]"
    raise FieldError(f"Unknown lookup `{lookup}` in `{key}`")  # pragma: no cover
