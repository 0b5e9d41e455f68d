"""Query-string filtering, search and ordering for list endpoints.

A view declares what clients may use, and anything else is refused with a 400 that
names the parameter:

- ``filterset_fields = {"price": ["gte", "lte"], "category_id": ["exact", "in"]}``
  (or a list of names for exact matches): ``?price__gte=10&category_id=3``.
- ``search_fields = ["title", "author__name"]``: ``?search=dune`` (case-insensitive
  substring match on any of them).
- ``ordering_fields = ["price", "title"]``: ``?ordering=-price,title``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from stellate.orm.expressions import Expression, Q
from stellate.rest.exceptions import ValidationError

if TYPE_CHECKING:
    from starlette.requests import Request

    from stellate.orm.models import Model
    from stellate.orm.queryset import QuerySet

__all__ = [
    "FILTER_LOOKUPS",
    "FilterSpec",
    "FullTextMatch",
    "apply_filters",
    "apply_search",
    "normalize_filterset_fields",
    "resolve_ordering",
]

#: Lookups a ``filterset_fields`` entry may allow.
FILTER_LOOKUPS = frozenset(
    {
        "exact",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "isnull",
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
    }
)
_TEXT_LOOKUPS = frozenset(
    {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)

#: Query parameter name -> (field name, lookup, value type).
FilterSpec = dict[str, tuple[str, str, Any]]


def normalize_filterset_fields(
    model: type[Model], fields: Mapping[str, Sequence[str]] | Sequence[str], where: str
) -> FilterSpec:
    """Check a view's ``filterset_fields`` and map each allowed parameter to its lookup.

    Raises:
        TypeError: A name is not a field of ``model`` or a lookup is unknown.
    """
    meta = model._meta
    items = (
        fields.items() if isinstance(fields, Mapping) else ((name, ["exact"]) for name in fields)
    )
    spec: FilterSpec = {}
    for name, lookups in items:
        if name not in meta.fields:
            listed = ", ".join(f"`{n}`" for n in meta.field_names)
            raise TypeError(
                f"`{where}.filterset_fields` names `{name}`, which is not a field of "
                f"`{model.__name__}`; valid fields: {listed}"
            )
        field = meta.fields[name]
        value_type: Any = field.enum_type or field.python_type
        if isinstance(lookups, str):
            lookups = [lookups]
        for lookup in lookups:
            if lookup not in FILTER_LOOKUPS:
                allowed = ", ".join(f"`{n}`" for n in sorted(FILTER_LOOKUPS))
                raise TypeError(
                    f"`{where}.filterset_fields[{name!r}]` allows the unknown lookup `{lookup}`; "
                    f"use one of {allowed}"
                )
            if lookup == "exact":
                spec[name] = (name, "exact", value_type)
            spec[f"{name}__{lookup}"] = (name, lookup, value_type)
    return spec


def _refuse_nul(param: str, raw: str) -> None:
    # PostgreSQL text cannot hold NUL; left in, it fails the query with a server error.
    if "\x00" in raw:
        raise ValidationError(
            f"Invalid query parameter `{param}`",
            errors={param: ["The value contains a NUL character (%00), which text cannot hold"]},
        )


def _convert(param: str, raw: str, lookup: str, value_type: Any) -> Any:
    _refuse_nul(param, raw)
    if lookup == "isnull":
        target: Any = bool
    elif lookup in _TEXT_LOOKUPS:
        return raw
    else:
        target = value_type
    if lookup == "in":
        parts = [part for part in raw.split(",") if part != ""]
        return [_convert(param, part, "exact", value_type) for part in parts]
    try:
        return msgspec.convert(raw, target, strict=False)
    except msgspec.ValidationError:
        name = getattr(target, "__name__", str(target))
        raise ValidationError(
            f"Invalid query parameter `{param}`",
            errors={param: [f"`{raw}` is not a valid `{name}`"]},
        ) from None


def _out_of_range(model: Any, name: str, value: Any) -> str | None:
    field = model._meta.fields.get(name)
    bounds = field.integer_range() if field is not None and field.enum_type is None else None
    if bounds is None:
        return None
    for item in value if isinstance(value, list) else [value]:
        if type(item) is int and not bounds[0] <= item <= bounds[1]:
            return f"`{item}` is out of range for `{name}` ({bounds[0]} to {bounds[1]})"
    return None


def apply_filters(queryset: QuerySet[Any], request: Request, spec: FilterSpec) -> QuerySet[Any]:
    """Filter ``queryset`` by the allowed parameters present in the query string.

    Raises:
        ValidationError: A value does not convert to its field's type (400 naming it).
    """
    if not spec:
        return queryset
    lookups: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for param, raw in request.query_params.multi_items():
        entry = spec.get(param)
        if entry is None:
            continue
        name, lookup, value_type = entry
        try:
            value = _convert(param, raw, lookup, value_type)
        except ValidationError as exc:
            errors.update(exc.errors)
            continue
        out_of_range = _out_of_range(queryset.model, name, value)
        if out_of_range:
            errors[param] = [out_of_range]
            continue
        lookups[name if lookup == "exact" else f"{name}__{lookup}"] = value
    if errors:
        raise ValidationError("Invalid filter parameters", errors=errors)
    return queryset.filter(**lookups) if lookups else queryset


def apply_search(
    queryset: QuerySet[Any],
    request: Request,
    fields: Sequence[str],
    param: str = "search",
    *,
    config: str = "simple",
) -> QuerySet[Any]:
    """Filter by ``?search=``: substring or full-text, as ``fields`` say.

    Plain names (``"title"``) keep rows where every word is in one of them (ILIKE,
    wildcards escaped). Names starting with ``@`` (``"@title"``, ``"@body"``) are searched
    together with PostgreSQL full-text search (``websearch_to_tsquery``: quoted phrases,
    ``or``, ``-word``); ``"$search"`` names a ``tsvector`` column used as is.
    """
    text = request.query_params.get(param, "").strip()
    _refuse_nul(param, text)
    if not fields or not text:
        return queryset
    text = text[:500]
    full_text = [f[1:] for f in fields if f.startswith("@")]
    vectors = [f[1:] for f in fields if f.startswith("$")]
    if full_text or vectors:
        matches: Q | None = None
        for vector in vectors:
            term = Q(FullTextMatch([vector], text, config=config, vector=True))
            matches = term if matches is None else matches | term
        if full_text:
            term = Q(FullTextMatch(full_text, text, config=config))
            matches = term if matches is None else matches | term
        assert matches is not None  # at least one kind is present
        return queryset.filter(matches)
    for word in text.split()[:10]:
        condition: Q | None = None
        for field in fields:
            term = Q(**{f"{field}__icontains": word})
            condition = term if condition is None else condition | term
        assert condition is not None  # fields is not empty
        queryset = queryset.filter(condition)
    return queryset


def resolve_ordering(
    request: Request,
    allowed: Sequence[str] | None,
    param: str = "ordering",
) -> tuple[str, ...] | None:
    """The client's ``?ordering=`` checked against ``allowed`` (``None`` when absent).

    Raises:
        ValidationError: A name is not in ``allowed`` (400 naming the parameter).
    """
    raw = request.query_params.get(param)
    if raw is None or raw.strip() == "":
        return None
    allowed_set = set(allowed or ())
    chosen: list[str] = []
    bad: list[str] = []
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        if item.lstrip("-") in allowed_set:
            chosen.append(item)
        else:
            bad.append(item.lstrip("-"))
    if bad:
        listed = ", ".join(f"`{name}`" for name in allowed or ()) or "(none)"
        raise ValidationError(
            f"Invalid query parameter `{param}`",
            errors={param: [f"Cannot order by `{name}`; allowed fields: {listed}" for name in bad]},
        )
    return tuple(chosen) or None


class FullTextMatch(Expression):
    """``to_tsvector(config, fields...) @@ websearch_to_tsquery(config, text)`` as a filter.

    With one field that already holds a ``tsvector`` (``vector=True``) the column is
    used as is, so a GIN index on it serves the search.
    """

    __slots__ = ("config", "fields", "text", "vector")

    def __init__(
        self, fields: Sequence[str], text: str, *, config: str = "simple", vector: bool = False
    ) -> None:
        if not re.fullmatch(r"[a-z_]+", config):
            raise ValueError(
                f"Full-text search configuration `{config}` must be a plain name such as "
                "`simple` or `english`"
            )
        self.fields = tuple(fields)
        self.text = text
        self.config = config
        self.vector = vector

    def shape(self) -> tuple[Any, ...]:
        return ("FTS", self.fields, self.config, self.vector)

    def flatten(self, out: list[Any]) -> None:
        out.append(self.text)

    def compile(self, ctx: Any) -> str:
        columns = [ctx.column(name)[0] for name in self.fields]
        if self.vector:
            document = columns[0]
        else:
            joined = " || ' ' || ".join(f"coalesce({column}::text, '')" for column in columns)
            document = f"to_tsvector('{self.config}', {joined})"
        placeholder = ctx.param()
        return f"{document} @@ websearch_to_tsquery('{self.config}', {placeholder})"
