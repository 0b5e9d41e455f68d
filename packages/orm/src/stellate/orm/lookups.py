"""Field lookups (``title__icontains=``) and transforms (``created_at__year=``) as SQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from stellate.orm.exceptions import FieldError

if TYPE_CHECKING:
    from stellate.orm._context import CompileContext
    from stellate.orm.fields import Field

__all__ = [
    "LOOKUPS",
    "PAIR_LOOKUP_SUFFIXES",
    "TRANSFORMS",
    "build_json_path_lookup",
    "build_lookup",
    "like_escape",
    "pair_values",
]

# pgvector's distance operators, for ``embedding__cosine_distance=(vector, max)``.
_VECTOR_DISTANCES = {"cosine_distance": "<=>", "l2_distance": "<->", "inner_product": "<#>"}
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
        "overlap",
        "search",
        "trigram_similar",
        *_VECTOR_DISTANCES,
    }
)
# Lookups whose value is a pair bound as two parameters (``range=(1, 5)``,
# ``embedding__cosine_distance=(vector, 0.3)``); the compiler flattens both.
PAIR_LOOKUP_SUFFIXES = ("__range", *(f"__{name}" for name in _VECTOR_DISTANCES))

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
    "len": ("cardinality({})", "int"),
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
    if lookup == "search":
        return _search(column, field, value, ctx, key)
    if lookup in _VECTOR_DISTANCES:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise FieldError(
                f"`{key}` takes a (vector, max_distance) pair, got `{value!r}`; e.g. "
                f"`{key}=(query_embedding, 0.3)`"
            )
        vector = ctx.param(to_db)
        return f"({column} {_VECTOR_DISTANCES[lookup]} {vector}::text::vector) < {ctx.param(float)}"
    if isinstance(value, Expression):
        if lookup == "exact" and getattr(value, "is_tsquery", False):
            # annotate(document=SearchVector(...)).filter(document=SearchQuery(...))
            return f"{column} @@ {value.compile(ctx)}"
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
    if lookup == "overlap":
        return f"{column} && {ctx.param(to_db)}"
    if lookup == "trigram_similar":
        return f"{column} % {ctx.param(str)}"
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


def pair_values(key: str, value: Any) -> Sequence[Any]:
    """The two values of a pair lookup, checked on every use (cached SQL expects two)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        shape = "(low, high)" if key.endswith("__range") else "(vector, max_distance)"
        raise FieldError(f"`{key}` takes a {shape} pair, got `{value!r}`")
    return value


def _search(column: str, field: Field | None, value: Any, ctx: CompileContext, key: str) -> str:
    """``title__search="python"`` / ``document__search=SearchQuery(...)``: ``@@``."""
    from stellate.orm.search import CombinedSearchQuery, SearchQuery, regconfig_sql

    config = getattr(field, "search_config", None)
    if field is not None and field.db_type().upper() == "TSVECTOR":
        document = column
    else:
        document = f"to_tsvector({column}::text)"
    if isinstance(value, SearchQuery | CombinedSearchQuery):
        return f"{document} @@ {value.compile(ctx)}"

    def text(value: Any) -> str:
        # Checked when binding: the SQL of this shape is cached and reused.
        if not isinstance(value, str):
            raise FieldError(
                f"`{key}` takes the search text or a `SearchQuery(...)`, got `{value!r}`"
            )
        return value

    prefix = f"{regconfig_sql(config)}, " if config else ""
    return f"{document} @@ plainto_tsquery({prefix}{ctx.param(text)})"


_JSON_COMPARISONS = {**_COMPARISONS, "contains": "@>", "contained_by": "<@"}


def build_json_path_lookup(
    column: str, parts: Sequence[str], value: Any, ctx: CompileContext, key: str
) -> str:
    """``data__author__name="x"``: a lookup on the value at a key path of a JSON column.

    The key path and the value travel in one ``text[]`` parameter (path first, then
    the value), so neither is ever written into the SQL text.
    """
    from stellate.orm.expressions import Expression

    lookup = parts[-1] if parts[-1] in LOOKUPS else "exact"
    keys = [str(part) for part in (parts[:-1] if parts[-1] in LOOKUPS else parts)]
    path_text = ".".join(keys)
    if lookup == "isnull" or value is None:
        raise FieldError(
            f"`{key}`: a JSON key path cannot be matched against None; test the key with "
            f'`has_key` (e.g. `{key.split("__")[0]}__has_key="{keys[0]}"` on its parent)'
        )
    if isinstance(value, Expression) or ctx.is_subquery(value):
        raise FieldError(f"`{key}`: a JSON key path is compared with plain values only")
    count = len(keys)

    def bind(encode: Callable[[Any], list[str]]) -> str:
        return f"({ctx.param(lambda v: [*keys, *encode(v)])}::text[])"

    if lookup in _JSON_COMPARISONS:
        param = bind(lambda v: [json.dumps(v)])
        return (
            f"({column} #> {param}[1:{count}]) {_JSON_COMPARISONS[lookup]} "
            f"{param}[{count + 1}]::jsonb"
        )
    if lookup == "in":
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise FieldError(f"`{key}` takes a list of values, got `{value!r}`")
        param = bind(lambda v: [json.dumps(x) for x in v])
        return f"({column} #> {param}[1:{count}]) = ANY(({param}[{count + 1}:])::jsonb[])"
    if lookup == "has_key":
        param = bind(lambda v: [str(v)])
        return f"({column} #> {param}[1:{count}]) ? {param}[{count + 1}]"
    if lookup in ("has_keys", "has_any_keys"):
        operator = "?&" if lookup == "has_keys" else "?|"
        param = bind(lambda v: [str(x) for x in v])
        return f"({column} #> {param}[1:{count}]) {operator} {param}[{count + 1}:]"
    text = f"({column} #>> {{p}}[1:{count}])"
    if lookup in _LIKE:
        operator, pattern = _LIKE[lookup]
        param = bind(lambda v: [pattern.format(like_escape(str(v)))])
        return f"{text.format(p=param)} {operator} {param}[{count + 1}]"
    if lookup == "iexact":
        param = bind(lambda v: [str(v)])
        return f"LOWER({text.format(p=param)}) = LOWER({param}[{count + 1}])"
    if lookup in ("regex", "iregex"):
        param = bind(lambda v: [str(v)])
        operator = "~" if lookup == "regex" else "~*"
        return f"{text.format(p=param)} {operator} {param}[{count + 1}]"
    raise FieldError(
        f"`{key}`: lookup `{lookup}` is not available on the JSON key `{path_text}`; use "
        "exact, gt/gte/lt/lte, in, contains, contained_by, has_key(s), icontains and the "
        "other text lookups"
    )
