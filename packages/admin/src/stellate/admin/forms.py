"""Model fields as HTML inputs: which input a field gets, its text, and parsing it back.

Every value travels through the form as text; :func:`parse_value` turns the text of
one input into the Python value the ORM field accepts, or raises :class:`InputError`
with a message for the user (shown next to the field, with the text kept).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import math
import typing
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stellate.orm import FileField

if TYPE_CHECKING:
    from stellate.orm import Field

__all__ = ["BoundField", "InputError", "Kind", "field_kind", "parse_value", "value_text"]


class Kind(enum.StrEnum):
    """The input a field is edited with."""

    TEXT = "text"
    TEXTAREA = "textarea"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    NULL_BOOLEAN = "null_boolean"
    ENUM = "enum"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    DURATION = "duration"
    UUID = "uuid"
    JSON = "json"
    FOREIGN_KEY = "foreign_key"
    MANY_TO_MANY = "many_to_many"
    FILE = "file"
    BINARY = "binary"


#: Kinds too long for a change-list column by default.
LONG_KINDS = frozenset({Kind.TEXTAREA, Kind.JSON, Kind.BINARY})
_SHORT_TEXT = 255


class InputError(ValueError):
    """The text of one input is not a valid value; the message is for the user."""


@functools.cache  # fields live as long as their model class; a handful per model
def field_kind(field: Field) -> Kind:
    """The input ``field`` is edited with."""
    if isinstance(field, FileField):
        return Kind.FILE
    if field.is_relation:
        return Kind.FOREIGN_KEY
    if field.enum_type is not None:
        return Kind.ENUM
    if field.is_json:
        return Kind.JSON
    ptype = field.python_type
    simple = {
        int: Kind.INTEGER,
        float: Kind.FLOAT,
        Decimal: Kind.DECIMAL,
        dt.datetime: Kind.DATETIME,
        dt.date: Kind.DATE,
        dt.time: Kind.TIME,
        dt.timedelta: Kind.DURATION,
        uuid.UUID: Kind.UUID,
        bytes: Kind.BINARY,
    }
    if ptype is bool:
        return Kind.NULL_BOOLEAN if field.nullable else Kind.BOOLEAN
    if ptype is str:
        long = field.max_length is None or field.max_length > _SHORT_TEXT
        return Kind.TEXTAREA if long else Kind.TEXT
    if ptype is typing.Any:
        return Kind.JSON
    return simple.get(ptype, Kind.TEXT)


def filter_kind(field: Field) -> str | None:
    """How the change list filters on ``field``: ``choices``, ``range`` or ``None``."""
    kind = field_kind(field)
    if kind in (Kind.BOOLEAN, Kind.NULL_BOOLEAN, Kind.ENUM, Kind.FOREIGN_KEY):
        return "choices"
    if kind in (Kind.DATE, Kind.DATETIME):
        return "range"
    return None


def value_text(field: Field, value: Any) -> str:
    """The text an input shows for ``value`` (the inverse of :func:`parse_value`)."""
    if value is None:
        return ""
    kind = field_kind(field)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if kind == Kind.DATETIME and isinstance(value, dt.datetime):
        # Native datetime-local inputs have no zone: the admin shows and reads UTC.
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return str(value.isoformat(timespec="seconds"))
    if kind == Kind.DURATION and isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    if kind == Kind.JSON:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(getattr(value, "raw", value))


def parse_value(field: Field, text: str | None) -> Any:
    """The value of ``field`` that the input text ``text`` means.

    ``None`` means the input was absent (an unchecked checkbox). Empty text is
    ``None`` for nullable fields, ``""`` for text fields and an error otherwise.

    Raises:
        InputError: with a message telling the user what to enter.
    """
    kind = field_kind(field)
    if kind == Kind.BOOLEAN:
        return text is not None and text.lower() in {"on", "true", "1", "yes"}
    raw = (text or "").strip() if kind not in (Kind.TEXT, Kind.TEXTAREA) else (text or "")
    if raw == "" or (kind == Kind.NULL_BOOLEAN and raw == "unknown"):
        if field.nullable:
            return None
        if kind in (Kind.TEXT, Kind.TEXTAREA):
            return ""
        raise InputError("This field is required.")
    try:
        value = _PARSERS[kind](field, raw)
    except InputError:
        raise
    except (ValueError, ArithmeticError, TypeError):
        raise InputError(_HINTS.get(kind, "Enter a valid value.")) from None
    _check_column_range(field, value)
    return value


def _check_column_range(field: Field, value: Any) -> None:
    """Refuse an integer the column cannot hold, before the ORM or the driver sees it.

    A foreign key is checked against its own column (the related primary key's type).
    """
    if type(value) is not int or field.enum_type is not None:
        return
    bounds = field.integer_range()
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise InputError(f"Enter a whole number from {bounds[0]} to {bounds[1]}.")


def _enum(field: Field, raw: str) -> Any:
    enum_type = field.enum_type
    assert enum_type is not None
    for member in enum_type:
        if str(member.value) == raw or member.name == raw:
            return member
    allowed = ", ".join(str(m.value) for m in enum_type)
    raise InputError(f"Choose one of: {allowed}.")


def _json(field: Field, raw: str) -> Any:
    try:
        value = json.loads(raw, parse_constant=_no_json_constant, parse_float=_json_float)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Enter valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise InputError(
            "Enter JSON nested less deeply (arrays and objects in each other)."
        ) from None
    if _holds_nul(value):
        raise InputError("Remove the \\u0000 (NUL) character: PostgreSQL JSON cannot store it.")
    ptype = field.python_type
    if ptype is dict and not isinstance(value, dict):
        raise InputError('Enter a JSON object, e.g. {"key": "value"}.')
    if ptype is list and not isinstance(value, list):
        raise InputError("Enter a JSON array, e.g. [1, 2].")
    return value


def _no_json_constant(name: str) -> Any:
    raise InputError(f"Enter valid JSON: `{name}` is not a JSON number.")


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"Enter valid JSON: `{text}` is too large for a JSON number.")
    return value


def _holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds a NUL in any string or key (jsonb refuses it)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _datetime(field: Field, raw: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _foreign_key(field: Field, raw: str) -> Any:
    pk = field.related_model._meta.pk
    return _PARSERS[field_kind(pk) if not pk.is_relation else Kind.INTEGER](pk, raw)


def _decimal(field: Field, raw: str) -> Decimal:
    value = Decimal(raw)
    if not value.is_finite():
        raise InputError("Enter a finite number.")
    return value


def _null_boolean(field: Field, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"true", "yes", "on", "1"}:
        return True
    if lowered in {"false", "no", "off", "0"}:
        return False
    raise InputError("Choose Yes, No or Unknown.")


def _text(field: Field, raw: str) -> str:
    if "\x00" in raw:
        raise InputError("Remove the NUL character: text cannot contain it.")
    return raw


_PARSERS: dict[Kind, Any] = {
    Kind.TEXT: _text,
    Kind.TEXTAREA: _text,
    Kind.INTEGER: lambda f, raw: int(raw),
    Kind.FLOAT: lambda f, raw: float(raw),
    Kind.DECIMAL: _decimal,
    Kind.NULL_BOOLEAN: _null_boolean,
    Kind.ENUM: _enum,
    Kind.DATE: lambda f, raw: dt.date.fromisoformat(raw),
    Kind.DATETIME: _datetime,
    Kind.TIME: lambda f, raw: dt.time.fromisoformat(raw),
    Kind.DURATION: lambda f, raw: dt.timedelta(seconds=float(raw)),
    Kind.UUID: lambda f, raw: uuid.UUID(raw),
    Kind.JSON: _json,
    Kind.FOREIGN_KEY: _foreign_key,
}
_HINTS = {
    Kind.INTEGER: "Enter a whole number.",
    Kind.FLOAT: "Enter a number.",
    Kind.DECIMAL: "Enter a number, e.g. 12.50.",
    Kind.DATE: "Enter a date as YYYY-MM-DD.",
    Kind.DATETIME: "Enter a date and time as YYYY-MM-DDTHH:MM (UTC).",
    Kind.TIME: "Enter a time as HH:MM.",
    Kind.DURATION: "Enter a duration in seconds.",
    Kind.UUID: "Enter a UUID, e.g. 123e4567-e89b-12d3-a456-426614174000.",
    Kind.FOREIGN_KEY: "Choose a valid related object.",
}


@dataclass(slots=True)
class BoundField:
    """One input of a rendered form: what the template needs to draw it."""

    name: str
    label: str
    kind: str
    text: str = ""
    errors: list[str] = field(default_factory=list)
    required: bool = False
    readonly: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    selected: set[str] = field(default_factory=set)
    attrs: dict[str, str] = field(default_factory=dict)
    help: str = ""
    autocomplete_url: str = ""
    file_url: str = ""

    @property
    def input_id(self) -> str:
        return f"id_{self.name}"


def input_attrs(field: Field) -> dict[str, str]:
    """HTML constraint attributes mirroring the field's options (min, max, maxlength)."""
    attrs: dict[str, str] = {}
    if field.ge is not None:
        attrs["min"] = str(field.ge)
    if field.le is not None:
        attrs["max"] = str(field.le)
    if field.max_length is not None and field_kind(field) in (Kind.TEXT, Kind.TEXTAREA):
        attrs["maxlength"] = str(field.max_length)
    if field.min_length is not None and field_kind(field) in (Kind.TEXT, Kind.TEXTAREA):
        attrs["minlength"] = str(field.min_length)
    if field_kind(field) == Kind.DECIMAL:
        attrs["step"] = "any"
    if field_kind(field) == Kind.FLOAT:
        attrs["step"] = "any"
    return attrs


def is_required(field: Field) -> bool:
    """Whether the input must not be left empty."""
    kind = field_kind(field)
    if field.nullable or kind == Kind.BOOLEAN or (field.primary_key and field.auto):
        return False
    if kind in (Kind.TEXT, Kind.TEXTAREA, Kind.FILE):
        return (field.min_length or 0) > 0
    return True
