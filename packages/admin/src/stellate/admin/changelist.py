"""The change list: search, filters, sorting and keyset pagination of one model's rows.

Pages are cut with ``WHERE (sort column, pk) > (last row's values)`` instead of
``OFFSET``, so page 1,000 costs what page 1 costs. A cursor (``after`` for the next
page, ``before`` for the previous one, which reads the reversed order) carries
a row's sort value and primary key as text; it is parsed back through the
field like any form input, so a forged cursor is only ever a bad value (400).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from stellate.admin import forms
from stellate.admin.forms import InputError, Kind
from stellate.admin.options import label_of
from stellate.orm import Q

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from stellate.admin.options import ModelAdmin
    from stellate.admin.site import AdminSite
    from stellate.core import Request
    from stellate.orm import Field, Model, QuerySet

__all__ = ["ChangeList"]

_RESERVED = frozenset({"q", "o", "after", "before"})
_CURSORS = ("after", "before")
_SUFFIXES = ("__gte", "__lte", "__isnull")
_UNSORTABLE = forms.LONG_KINDS | {Kind.MANY_TO_MANY, Kind.FOREIGN_KEY}
#: Kinds whose cell is ``str(value)``.
_PLAIN_KINDS = frozenset({Kind.TEXT, Kind.TEXTAREA, Kind.INTEGER, Kind.DECIMAL, Kind.UUID})


@dataclass(slots=True)
class FilterChoice:
    label: str
    url: str
    selected: bool


@dataclass(slots=True)
class FilterSpec:
    """One filter of the side bar: links (choices) or a date range form."""

    name: str
    label: str
    kind: str
    choices: list[FilterChoice] = field(default_factory=list)
    start: str = ""
    end: str = ""


@dataclass(slots=True)
class Column:
    name: str
    label: str
    sortable: bool
    sort_url: str = ""
    sorted: str = ""  # "", "ascending" or "descending"


@dataclass(slots=True)
class Row:
    pk: str
    url: str
    cells: list[str]


class ChangeList:
    """What one change-list request shows; build with :meth:`build`, then :meth:`load`."""

    def __init__(self, admin: ModelAdmin, request: Request) -> None:
        self.admin = admin
        self.request = request
        self.params: QueryParams = request.query_params
        self.errors: list[str] = []
        self.search = self.params.get("q", "")
        self.conditions: list[Q] = []
        self.filters: list[FilterSpec] = []
        self.columns: list[Column] = []
        self.rows: list[Row] = []
        self.next_url = ""
        self.previous_url = ""
        self.first_url = ""
        meta = admin.model._meta
        self.pk_field = meta.pk
        self.sort_field, self.descending = self._ordering()

    # -- building the query ---------------------------------------------------------------

    def _ordering(self) -> tuple[Field, bool]:
        meta = self.admin.model._meta
        requested = self.params.get("o")
        if requested is not None:
            name = requested.lstrip("-")
            candidate = meta.fields.get(name)
            if candidate is None or not self._sortable(candidate):
                self.errors.append(
                    f"Cannot sort by `{name}`: choose a column with a sort link (parameter `o`)."
                )
            else:
                return candidate, requested.startswith("-")
        if self.admin.ordering:
            first = self.admin.ordering[0]
            return meta.fields[first.lstrip("-")], first.startswith("-")
        return meta.pk, True

    def _sortable(self, field: Field) -> bool:
        return field.name in self.admin.display and forms.field_kind(field) not in _UNSORTABLE

    def _url(self, **changes: str | None) -> str:
        params = {k: v for k, v in self.params.multi_items() if k not in _CURSORS}
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        query = urlencode(params)
        return f"{self.admin.url}?{query}" if query else self.admin.url

    def _parse_filters(self) -> None:
        meta = self.admin.model._meta
        allowed = set(self.admin.list_filter)
        for key, raw in self.params.multi_items():
            if key in _RESERVED:
                continue
            name, suffix = key, ""
            for candidate in _SUFFIXES:
                if key.endswith(candidate):
                    name, suffix = key[: -len(candidate)], candidate
            if name not in allowed:
                self.errors.append(
                    f"Unknown filter `{key}`: filter on "
                    + (", ".join(f"`{n}`" for n in self.admin.list_filter) or "nothing here")
                    + "."
                )
                continue
            field_ = meta.fields[name]
            if suffix == "__isnull":
                if raw not in ("0", "1"):
                    self.errors.append(f"Filter `{key}` takes 1 (empty) or 0 (not empty).")
                    continue
                self.conditions.append(Q(**{f"{name}__isnull": raw == "1"}))
                continue
            try:
                value = forms.parse_value(field_, raw)
            except InputError as exc:
                self.errors.append(f"Filter `{key}`: {exc}")
                continue
            if value is None:
                continue
            if suffix == "__lte" and forms.field_kind(field_) == Kind.DATETIME:
                # An end date includes its whole day.
                value = value + dt.timedelta(days=1)
                self.conditions.append(Q(**{f"{name}__lt": value}))
            elif suffix:
                self.conditions.append(Q(**{f"{name}{suffix}": value}))
            else:
                self.conditions.append(Q(**{name: value}))

    def _search_condition(self) -> Q | None:
        text = self.search.strip()
        if not text or not self.admin.search_fields:
            return None
        if "\x00" in text:
            self.errors.append("Search text cannot contain the NUL character.")
            return None
        # An empty Q() is "true": combine real conditions only.
        terms = [
            functools.reduce(
                operator.or_,
                (Q(**{f"{name}__icontains": term}) for name in self.admin.search_fields),
            )
            for term in text.split()[:8]
        ]
        return functools.reduce(operator.and_, terms)

    def _cursor_condition(self, raw: str, param: str, descending: bool) -> Q | None:
        """Rows after the cursor's row in the order (``descending`` on both keys)."""
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
            if not (isinstance(decoded, list) and len(decoded) == 2):
                raise ValueError(decoded)
            sort_text, pk_text = decoded
            pk = forms.parse_value(self.pk_field, str(pk_text))
            sort_value = (
                None if sort_text is None else forms.parse_value(self.sort_field, str(sort_text))
            )
        except (ValueError, InputError, binascii.Error, UnicodeDecodeError):
            self.errors.append(f"The page link (`{param}`) is invalid: start again from page one.")
            return None
        pk_name = self.pk_field.name
        step = "lt" if descending else "gt"
        if self.sort_field is self.pk_field:
            return Q(**{f"{pk_name}__{step}": pk})
        name = self.sort_field.name
        if sort_value is None:
            after_nulls = Q(**{f"{name}__isnull": True, f"{pk_name}__{step}": pk})
            # Descending order puts NULLs first (PostgreSQL's default): values follow.
            return after_nulls | Q(**{f"{name}__isnull": False}) if descending else after_nulls
        condition = Q(**{f"{name}__{step}": sort_value}) | Q(
            **{name: sort_value, f"{pk_name}__{step}": pk}
        )
        if self.sort_field.nullable and not descending:
            condition |= Q(**{f"{name}__isnull": True})
        return condition

    def queryset(self, *, reverse: bool = False) -> QuerySet[Any]:
        """The rows matching search and filters, ordered (or in the reverse order)."""
        self._parse_filters()
        qs = self.admin.get_queryset(self.request)
        search = self._search_condition()
        if search is not None:
            qs = qs.filter(search)
        if self.conditions:
            qs = qs.filter(*self.conditions)
        # Reversing both keys also mirrors PostgreSQL's NULL placement (ASC puts NULLs
        # last, DESC first), so the reverse order is exactly the page order read backwards.
        sign = "-" if self.descending != reverse else ""
        order = [f"{sign}{self.sort_field.name}"]
        if self.sort_field is not self.pk_field:
            order.append(f"{sign}{self.pk_field.name}")
        return qs.order_by(*order)

    # -- loading ---------------------------------------------------------------------------

    async def load(self, site: AdminSite) -> None:
        """Run the page's queries: the rows (one query), then the filters' choices."""
        admin = self.admin
        after, before = self.params.get("after"), self.params.get("before")
        backwards = bool(before) and not after
        qs = self.queryset(reverse=backwards)
        cursor = after or before
        if cursor:
            param = "after" if after else "before"
            condition = self._cursor_condition(cursor, param, self.descending != backwards)
            if condition is not None:
                qs = qs.filter(condition)
        if admin.related_columns:
            qs = qs.select_related(*admin.related_columns)
        if self.errors:
            objects: list[Model] = []
        else:
            objects = await qs.limit(admin.list_per_page + 1)
        more = len(objects) > admin.list_per_page
        objects = objects[: admin.list_per_page]
        if backwards:
            objects.reverse()
        self._columns()
        cells = self._cell_functions(site)
        object_url = admin.object_url
        self.rows = [
            Row(pk=str(obj.pk), url=object_url(obj.pk), cells=[cell(obj) for cell in cells])
            for obj in objects
        ]
        if objects:
            # Going forwards, `more` says whether a next page exists and a cursor that
            # this page was reached by says a previous one does; going backwards, the
            # other way round.
            if backwards or more:
                self.next_url = self._page_url("after", objects[-1])
            if (backwards and more) or (not backwards and after):
                self.previous_url = self._page_url("before", objects[0])
        if cursor:
            self.first_url = self._url()
        await self._build_filters(site)

    def _page_url(self, param: str, obj: Model) -> str:
        token = json.dumps(
            [_cursor_text(obj.__dict__.get(self.sort_field.name)), _cursor_text(obj.pk)]
        )
        params = {k: v for k, v in self.params.multi_items() if k not in _CURSORS}
        params[param] = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        return f"{self.admin.url}?{urlencode(params)}"

    def _columns(self) -> None:
        meta = self.admin.model._meta
        current = self.sort_field.name
        for name in self.admin.display:
            field_ = meta.fields.get(name)
            sortable = field_ is not None and self._sortable(field_)
            column = Column(name=name, label=self.admin.column_label(name), sortable=sortable)
            if sortable:
                is_current = name == current
                column.sorted = (
                    ("descending" if self.descending else "ascending") if is_current else ""
                )
                flip = "-" if is_current and not self.descending else ""
                column.sort_url = self._url(o=f"{flip}{name}")
            self.columns.append(column)

    def _cell_functions(self, site: AdminSite) -> list[Callable[[Model], str]]:
        """One function per column turning a row into its cell text (chosen once per page)."""
        meta = self.admin.model._meta
        functions: list[Callable[[Model], str]] = []
        for name in self.admin.display:
            field_ = meta.fields.get(name)
            if field_ is None:
                functions.append(functools.partial(_method_cell, getattr(self.admin, name)))
            elif field_.is_relation:
                functions.append(functools.partial(_related_cell, site, field_))
            elif forms.field_kind(field_) in _PLAIN_KINDS:
                functions.append(functools.partial(_plain_cell, name))
            else:
                functions.append(functools.partial(_value_cell, field_))
        return functions

    async def _build_filters(self, site: AdminSite) -> None:
        meta = self.admin.model._meta
        for name in self.admin.list_filter:
            field_ = meta.fields[name]
            label = label_of(name)
            kind = forms.filter_kind(field_)
            if kind == "range":
                self.filters.append(
                    FilterSpec(
                        name=name,
                        label=label,
                        kind="range",
                        start=self.params.get(f"{name}__gte", ""),
                        end=self.params.get(f"{name}__lte", ""),
                    )
                )
                continue
            spec = FilterSpec(name=name, label=label, kind="choices")
            current = self.params.get(name)
            isnull = self.params.get(f"{name}__isnull")
            spec.choices.append(
                FilterChoice(
                    "All",
                    self._url(**{name: None, f"{name}__isnull": None}),
                    current is None and isnull is None,
                )
            )
            for value, text in await self._choices(site, field_):
                spec.choices.append(
                    FilterChoice(
                        text,
                        self._url(**{name: value, f"{name}__isnull": None}),
                        current == value,
                    )
                )
            if field_.nullable:
                for flag, text in (("1", "Empty"), ("0", "Not empty")):
                    spec.choices.append(
                        FilterChoice(
                            text,
                            self._url(**{name: None, f"{name}__isnull": flag}),
                            isnull == flag,
                        )
                    )
            self.filters.append(spec)

    async def _choices(self, site: AdminSite, field_: Field) -> list[tuple[str, str]]:
        kind = forms.field_kind(field_)
        if kind in (Kind.BOOLEAN, Kind.NULL_BOOLEAN):
            return [("true", "Yes"), ("false", "No")]
        if kind == Kind.ENUM:
            assert field_.enum_type is not None
            return [(str(m.value), _member_label(m)) for m in field_.enum_type]
        if kind == Kind.FOREIGN_KEY:
            return await site.related_choices(field_, self.admin.choices_limit)
        return []


def _method_cell(method: Callable[[Model], Any], obj: Model) -> str:
    return str(method(obj))


def _related_cell(site: AdminSite, field_: Field, obj: Model) -> str:
    related = obj.__dict__.get(field_.relation_name)
    if related is not None:
        return site.label(related)
    raw = obj.__dict__.get(field_.name)
    return "—" if raw is None else f"#{getattr(raw, 'raw', raw)}"


def _plain_cell(name: str, obj: Model) -> str:
    value = obj.__dict__.get(name)
    return "—" if value is None else str(value)


def _value_cell(field_: Field, obj: Model) -> str:
    return display_value(field_, obj.__dict__.get(field_.name))


def _member_label(member: enum.Enum) -> str:
    return str(member.value).replace("_", " ").capitalize()


def display_value(field_: Field, value: Any) -> str:
    """A value as the change list and read-only fields show it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, enum.Enum):
        return _member_label(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if forms.field_kind(field_) == Kind.JSON:
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return str(getattr(value, "raw", value))


def _cursor_text(value: Any) -> str | None:
    # Exact text (full precision): value_text() rounds datetimes to seconds for inputs.
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float | int):
        return str(value)
    return str(getattr(value, "raw", value))
