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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from stellate.orm.expressions import Q
from stellate.rest.exceptions import ValidationError

if TYPE_CHECKING:
    from starlette.requests import Request

    from stellate.orm.models import Model
    from stellate.orm.queryset import QuerySet

__all__ = [
    "FILTER_LOOKUPS",
    "FilterSpec",
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


def _convert(param: str, raw: str, lookup: str, value_type: Any) -> Any:
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
        lookups[name if lookup == "exact" else f"{name}__{lookup}"] = value
    if errors:
        raise ValidationError("Invalid filter parameters", errors=errors)
    return queryset.filter(**lookups) if lookups else queryset


def apply_search(
    queryset: QuerySet[Any], request: Request, fields: Sequence[str], param: str = "search"
) -> QuerySet[Any]:
    """Keep rows where every word of ``?search=`` is in one of ``fields`` (ILIKE)."""
    text = request.query_params.get(param, "").strip()
    if not fields or not text:
        return queryset
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
