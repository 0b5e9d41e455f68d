"""Model fields: ``Field(...)`` options, Python type to column type, value validation."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from stellate.orm.expressions import Expression
    from stellate.orm.models import Model

    # At type-check time a field is assignable to the attribute's declared type
    # (``id: int = Field(primary_key=True)``) while its own constructor stays checked.
    _FieldBase = Any
else:
    _FieldBase = object

__all__ = [
    "CASCADE",
    "PROTECT",
    "RESTRICT",
    "SET_NULL",
    "ArrayField",
    "Field",
    "GeneratedField",
    "JSONField",
    "OnDelete",
    "OneToOneField",
]


class OnDelete(enum.StrEnum):
    """What PostgreSQL does to referencing rows when the referenced row is deleted."""

    CASCADE = "CASCADE"
    PROTECT = "NO ACTION"
    RESTRICT = "RESTRICT"
    SET_NULL = "SET NULL"


CASCADE: Final = OnDelete.CASCADE
PROTECT: Final = OnDelete.PROTECT
RESTRICT: Final = OnDelete.RESTRICT
SET_NULL: Final = OnDelete.SET_NULL


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
_NO_PROBLEMS: Final[list[str]] = []  # shared and never mutated: callers only test it

_SIMPLE_TYPES: dict[type, str] = {
    bool: "BOOLEAN",
    int: "INTEGER",
    float: "DOUBLE PRECISION",
    str: "TEXT",
    bytes: "BYTEA",
    Decimal: "NUMERIC",
    uuid.UUID: "UUID",
    dt.datetime: "TIMESTAMPTZ",
    dt.date: "DATE",
    dt.time: "TIME",
    dt.timedelta: "INTERVAL",
    dict: "JSONB",
    list: "JSONB",
}

# Python types a value may have for each declared type (bool is an int, but not a valid one).
_INTEGER_LIMITS = {"SMALLINT": 2**15, "INTEGER": 2**31, "BIGINT": 2**63}
_ACCEPTED: dict[type, tuple[type, ...]] = {
    int: (int,),
    float: (float, int, Decimal),
    Decimal: (Decimal, int, float),
    str: (str,),
    bool: (bool,),
    bytes: (bytes, bytearray, memoryview),
    uuid.UUID: (uuid.UUID,),
    dt.datetime: (dt.datetime,),
    dt.date: (dt.date,),
    dt.time: (dt.time,),
    dt.timedelta: (dt.timedelta,),
    dict: (dict,),
    list: (list, tuple),
}


class Field(_FieldBase):  # type: ignore[misc]
    """Declare a model column and its options.

    Args:
        default: A value, or a zero-argument callable called for each new instance.
        primary_key: This column is the primary key.
        auto: The database generates the value (SERIAL); with ``primary_key``.
        unique: Add a UNIQUE constraint.
        index: Add a B-tree index.
        foreign_key: The referenced model class, or its class name as a string for a
            forward reference (resolved when that model is defined).
        related_name: Name of the reverse relation on the referenced model.
        on_delete: ``CASCADE``, ``PROTECT`` (default), ``RESTRICT`` or ``SET_NULL``.
        ge: Minimum value (inclusive). le: Maximum value (inclusive).
        min_length: Minimum length. max_length: Maximum length.
        regex: A pattern the whole string must match.
        db_default: SQL expression used as the column's DEFAULT (e.g. ``"now()"``).
        renamed_from: The column's previous name, for migrations.

    Example:
        ``author_id: int = Field(foreign_key=Author, related_name="books")``
    """

    name: str
    model: type[Model]
    python_type: Any
    nullable: bool
    enum_type: type[enum.Enum] | None
    # The database computes the value (``GeneratedField``): never written by the ORM.
    generated: bool = False
    # The access method and operator class of the index ``index=True`` creates.
    index_method: str = "btree"
    index_opclass: str | None = None
    # A PostgreSQL extension the column type needs (created by migrations).
    db_extension: str | None = None

    def __init__(
        self,
        *,
        default: Any = MISSING,
        primary_key: bool = False,
        auto: bool = False,
        unique: bool = False,
        index: bool = False,
        foreign_key: type[Model] | str | None = None,
        related_name: str | None = None,
        on_delete: OnDelete | str = PROTECT,
        ge: float | int | Decimal | None = None,
        le: float | int | Decimal | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        regex: str | None = None,
        db_default: str | None = None,
        renamed_from: str | None = None,
        db_column_type: str | None = None,
    ) -> None:
        self.default = default
        self.primary_key = primary_key
        self.auto = auto
        self.unique = unique
        self.index = index
        self.foreign_key = foreign_key
        self.related_name = related_name
        try:
            self.on_delete = (
                on_delete
                if isinstance(on_delete, OnDelete)
                else OnDelete.__members__.get(str(on_delete).upper().replace(" ", "_"))
                or OnDelete(on_delete)
            )
        except ValueError:
            allowed = ", ".join(f"`{o.name}`" for o in OnDelete)
            raise ValueError(f"Unknown on_delete `{on_delete}`; use one of {allowed}") from None
        self.ge = ge
        self.le = le
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        self._pattern = re.compile(regex) if regex is not None else None
        self.db_default = db_default
        self.renamed_from = renamed_from
        self._db_column_type = db_column_type
        self.nullable = False
        self.enum_type = None
        self.python_type = None
        self.is_json = False
        self._related_model: type[Model] | None = None
        self._fast_types: frozenset[type] = frozenset()

    # -- set up by the model metaclass ---------------------------------------------------

    def contribute(self, model: type[Model], name: str, annotation: Any) -> None:
        """Bind this field to ``model.name`` with its (evaluated) type annotation."""
        self.name = name
        self.column = name
        self.model = model
        base, nullable = _unwrap_optional(annotation)
        self.nullable = nullable
        origin = typing.get_origin(base)
        self.python_type = origin if origin is not None else base
        if isinstance(self.python_type, type) and issubclass(self.python_type, enum.Enum):
            self.enum_type = self.python_type
        # A foreign key's type comes from its target, which may not be defined yet.
        self.is_json = self.foreign_key is None and self.db_type().upper().startswith("JSON")
        self.needs_from_db = (
            type(self).from_db_value is not Field.from_db_value
            or self.enum_type is not None
            or self.is_json
        )
        # Values of these exact types need no check at all (an unconstrained field of a
        # plain type): validation of whole rows then costs one set lookup per field.
        constrained = (
            self.ge is not None
            or self.le is not None
            or self.min_length is not None
            or self.max_length is not None
            or self._pattern is not None
            or type(self).to_db_value is not Field.to_db_value
        )
        fast: frozenset[type] = frozenset()
        if not constrained:
            if self.enum_type is not None:
                fast = frozenset({self.enum_type})
            elif isinstance(self.python_type, type) and self.python_type in _ACCEPTED:
                fast = frozenset(_ACCEPTED[self.python_type]) - (
                    {bool} if self.python_type is not bool else set()
                )
                if self.python_type is dt.date:
                    fast = frozenset({dt.date})
        self._fast_types = fast
        self.needs_to_db = (
            type(self).to_db_value is not Field.to_db_value
            or self.enum_type is not None
            or self.is_json
        )

    def copy(self) -> Field:
        """A fresh unbound copy, so an abstract base's field can bind to each subclass."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    # -- descriptor: unloaded (deferred) fields raise instead of querying ----------------

    def __get__(self, instance: object, owner: type[object] | None = None) -> Any:
        if instance is None:
            return self
        from stellate.orm.exceptions import NotLoadedError

        model = type(instance).__name__
        raise NotLoadedError(
            f"`{model}.{self.name}` was not loaded (deferred by `only()`/`defer()`, or not "
            f"set yet); load it with `await obj.fetch({self.name!r})` or remove it from "
            "`defer()`"
        )

    # -- relations ------------------------------------------------------------------------

    @property
    def is_relation(self) -> bool:
        """Whether this field is a foreign key."""
        return self.foreign_key is not None

    @property
    def related_model(self) -> type[Model]:
        """The referenced model; resolves a forward reference on first use."""
        if self._related_model is not None:
            return self._related_model
        target = self.foreign_key
        if target is None:
            raise TypeError(f"`{self.model.__name__}.{self.name}` is not a foreign key")
        if isinstance(target, str):
            from stellate.orm.models import resolve_model_name

            resolved = resolve_model_name(target, self.model)
            self._related_model = resolved
            return resolved
        self._related_model = target
        return target

    @property
    def relation_name(self) -> str:
        """Attribute that holds the loaded related instance (``author_id`` -> ``author``)."""
        return self.name[:-3] if self.name.endswith("_id") and len(self.name) > 3 else self.name

    # -- column type and conversions (override in custom fields) -------------------------

    def db_type(self) -> str:
        """The PostgreSQL column type used in CREATE TABLE."""
        if self._db_column_type is not None:
            return self._db_column_type
        if self.foreign_key is not None and not (self.primary_key and self.auto):
            return self.related_model._meta.pk.reference_type()
        ptype = self.python_type
        if self.enum_type is not None:
            values = [member.value for member in self.enum_type]
            return "INTEGER" if all(isinstance(v, int) for v in values) else "TEXT"
        if self.auto and ptype is int:
            return "SERIAL"
        if ptype in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[ptype]
        if ptype is typing.Any:
            return "JSONB"
        raise TypeError(
            f"No column type for `{self.model.__name__}.{self.name}` annotated `{ptype!r}`; "
            "use a supported type (int, float, str, bool, datetime, date, Decimal, UUID, "
            "bytes, dict, list, an Enum) or a Field subclass that defines `db_type()`"
        )

    def reference_type(self) -> str:
        """Column type of a foreign key pointing at this (primary key) column."""
        own = self.db_type().upper()
        return {"SERIAL": "INTEGER", "BIGSERIAL": "BIGINT", "SMALLSERIAL": "SMALLINT"}.get(
            own, self.db_type()
        )

    def integer_range(self) -> tuple[int, int] | None:
        """The smallest and largest value an integer column holds (``None``: not integer)."""
        try:
            column = self.reference_type().upper()
        except TypeError:
            return None
        limit = _INTEGER_LIMITS.get(column)
        return None if limit is None else (-limit, limit - 1)

    def to_db_value(self, value: Any) -> Any:
        """Convert a Python value into what the database driver sends."""
        if value is None:
            return None
        if self.enum_type is not None and isinstance(value, enum.Enum):
            return value.value
        if self.is_json and not isinstance(value, str):
            return json.dumps(value)
        return value

    def from_db_value(self, value: Any) -> Any:
        """Convert a value read from the database into the Python value."""
        if value is None:
            return None
        if self.enum_type is not None:
            return self.enum_type(value)
        if self.is_json and isinstance(value, str):
            return json.loads(value)
        return value

    def placeholder(self, index: int) -> str:
        """The SQL placeholder for a parameter bound to this column."""
        # JSON values travel as text and are cast in SQL, so the result does not depend
        # on which jsonb codec (if any) the connection registered.
        if self.is_json:
            return f"${index}::text::jsonb"
        return f"${index}"

    def filter_types(self) -> tuple[type, ...] | None:
        """Types a filter value for this field may have (``None``: not checked)."""
        if type(self).to_db_value is not Field.to_db_value or self.enum_type is not None:
            return None
        if not isinstance(self.python_type, type):
            return None
        accepted = _ACCEPTED.get(self.python_type)
        if accepted is None or self.is_json:
            return None
        if self.python_type is dt.date:
            return (dt.date,)
        if self.python_type is float:
            return (float, int, Decimal)
        return accepted

    def get_default(self) -> Any:
        """The default for a new instance (calls a callable default)."""
        default = self.default
        if callable(default) and not isinstance(default, enum.Enum):
            return default()
        return default

    @property
    def has_default(self) -> bool:
        """Whether new instances get a value without one being passed."""
        return self.default is not MISSING

    @property
    def required(self) -> bool:
        """Whether a value must be given before the row can be inserted."""
        return not (self.has_default or self.auto or self.db_default is not None or self.nullable)

    # -- validation -------------------------------------------------------------------------

    def clean(self, value: Any) -> tuple[Any, list[str]]:
        """Coerce ``value`` where safe (enum values) and list every problem with it."""
        if type(value) in self._fast_types:
            return value, _NO_PROBLEMS
        if value is None:
            if self.nullable or (self.auto and self.primary_key):
                return None, []
            return None, ["may not be None (annotate it `X | None` to allow NULL)"]
        if self.enum_type is not None:
            if not isinstance(value, self.enum_type):
                try:
                    value = self.enum_type(value)
                except ValueError:
                    allowed = ", ".join(f"`{m.value}`" for m in self.enum_type)
                    return value, [f"`{value}` is not one of the allowed values: {allowed}"]
            return value, []
        problems: list[str] = []
        accepted = _ACCEPTED.get(self.python_type) if isinstance(self.python_type, type) else None
        if accepted is not None and type(self).to_db_value is Field.to_db_value:
            wrong = not isinstance(value, accepted) or (
                self.python_type is not bool and isinstance(value, bool)
            )
            if self.python_type is dt.date and isinstance(value, dt.datetime):
                wrong = True
            if wrong:
                expected = getattr(self.python_type, "__name__", str(self.python_type))
                return value, [f"expected {expected}, got {type(value).__name__} `{value!r}`"]
        bounded = self.ge is not None or self.le is not None
        if bounded and not _finite(value):
            # NaN fits no range (a Decimal NaN even raises on comparison), nor does infinity.
            problems.append(f"must be a finite number (got `{value}`)")
        else:
            if self.ge is not None and _comparable(value) and value < self.ge:
                problems.append(f"must be >= {self.ge} (got `{value}`)")
            if self.le is not None and _comparable(value) and value > self.le:
                problems.append(f"must be <= {self.le} (got `{value}`)")
        sized = hasattr(value, "__len__")
        if self.min_length is not None and sized and len(value) < self.min_length:
            problems.append(f"must have at least {self.min_length} characters/items")
        if self.max_length is not None and sized and len(value) > self.max_length:
            problems.append(f"must have at most {self.max_length} characters/items")
        pattern = self._pattern
        if pattern is not None and isinstance(value, str) and pattern.fullmatch(value) is None:
            problems.append(f"`{value}` does not match the pattern `{self.regex}`")
        return value, problems

    def __repr__(self) -> str:
        owner = getattr(self, "model", None)
        where = f"{owner.__name__}.{self.name}" if owner is not None else "unbound"
        return f"<{type(self).__name__} {where}>"


def OneToOneField(to: type[Model] | str, *, related_name: str | None = None, **options: Any) -> Any:
    """A foreign key with a UNIQUE constraint (one row on each side).

    Example:
        ``user_id: int = OneToOneField(User, related_name="profile")``
    """
    field = Field(foreign_key=to, related_name=related_name, unique=True, **options)
    field.one_to_one = True
    return field


class JSONField(Field):
    """A JSONB column holding dicts, lists and scalars.

    Args:
        default_factory: Called for each new instance's default (``dict``, ``list``).
        **options: The options of :class:`Field`.

    Example:
        ``attributes: dict = JSONField(default_factory=dict)``
    """

    def __init__(self, *, default_factory: Callable[[], Any] | None = None, **options: Any) -> None:
        if default_factory is not None:
            if options.get("default", MISSING) is not MISSING:
                raise ValueError("JSONField: pass `default` or `default_factory`, not both")
            options["default"] = default_factory
        super().__init__(**options)

    def db_type(self) -> str:
        return self._db_column_type or "JSONB"


class ArrayField(Field):
    """A PostgreSQL array column (``TEXT[]``, ``INTEGER[]``).

    The element type comes from ``base_type`` or, when omitted, from the annotation
    (``list[str]`` -> ``TEXT[]``, ``list[int]`` -> ``INTEGER[]``). Lookups:
    ``contains``, ``contained_by``, ``overlap`` and the ``len`` transform.

    Example:
        ``tags: list[str] = ArrayField()``; ``Post.objects.filter(tags__overlap=["a"])``
    """

    def __init__(self, *, base_type: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.base_type = base_type
        self.item_type: Any = None

    def contribute(self, model: type[Model], name: str, annotation: Any) -> None:
        base, _ = _unwrap_optional(annotation)
        args = typing.get_args(base)
        self.item_type = args[0] if len(args) == 1 and isinstance(args[0], type) else None
        if self.base_type is None and self.item_type not in _SIMPLE_TYPES:
            raise TypeError(
                f'`{model.__name__}.{name}`: ArrayField needs `base_type=` (e.g. "TEXT") or '
                f"an annotation such as `list[str]` or `list[int]`, got `{annotation!r}`"
            )
        super().contribute(model, name, annotation)
        if self.item_type is not None:
            self._fast_types = frozenset()  # every item is checked in clean()

    def db_type(self) -> str:
        base = self.base_type or _SIMPLE_TYPES[self.item_type]
        return f"{base}[]"

    def clean(self, value: Any) -> tuple[Any, list[str]]:
        value, problems = super().clean(value)
        item = self.item_type
        if problems or item is None or not isinstance(value, list | tuple):
            return value, problems
        accepted = _ACCEPTED.get(item, (item,))
        wrong = [
            v
            for v in value
            if not isinstance(v, accepted) or isinstance(v, bool) is not (item is bool)
        ]
        if wrong:
            problems = [f"items must be {item.__name__}, got `{wrong[0]!r}`"]
        return value, problems


class GeneratedField(Field):
    """A column the database computes: ``GENERATED ALWAYS AS (expression) STORED``.

    The ORM never writes it; its value is read back after every insert.

    Args:
        expression: SQL over the row's columns (``"price * quantity"``) or an
            expression (``F("price") * F("quantity")``).
        stored: Must be True: PostgreSQL before 18 only stores generated columns.
        db_type: The column type when the annotation does not decide it.
        **options: ``index``, ``db_column_type`` and the like (no defaults).

    Example:
        ``total: float = GeneratedField(expression=F("price") * F("quantity"))``
    """

    generated = True

    def __init__(
        self,
        *,
        expression: str | Expression,
        stored: bool = True,
        db_type: str | None = None,
        **options: Any,
    ) -> None:
        if not stored:
            raise ValueError(
                "GeneratedField(stored=False): PostgreSQL (before 18) only has STORED "
                "generated columns; pass `stored=True`"
            )
        for option in ("default", "db_default", "primary_key", "auto"):
            if option in options:
                raise ValueError(
                    f"GeneratedField does not take `{option}`: the database computes its value"
                )
        super().__init__(db_column_type=db_type, **options)
        self.expression = expression
        self.stored = stored

    @property
    def required(self) -> bool:
        return False

    def generation_sql(self) -> str:
        """The SQL expression inside ``GENERATED ALWAYS AS (...)``."""
        if isinstance(self.expression, str):
            return self.expression
        import re

        from stellate.orm._context import CompileContext
        from stellate.orm.constraints import sql_literal

        # DDL takes no parameters: the expression's values are written as literals.
        ctx = CompileContext(self.model)
        sql = self.expression.compile(ctx)
        if ctx.joins:
            raise ValueError(
                f"`{self.model.__name__}.{self.name}`: a generated column may only use the "
                "model's own fields"
            )
        raws: list[Any] = []
        self.expression.flatten(raws)
        params = [t(v) for t, v in zip(ctx.transforms, raws, strict=True)]
        sql = re.sub(r"\$(\d+)", lambda m: sql_literal(params[int(m.group(1)) - 1]), sql)
        return sql.replace(f"{self.model._meta.qtable}.", "")


def _finite(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite()  # float() refuses a signaling NaN
    return not isinstance(value, float) or math.isfinite(value)


def _comparable(value: Any) -> bool:
    return isinstance(value, int | float | Decimal | dt.date | dt.time | dt.timedelta | str)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) != len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], nullable
        return annotation, nullable
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(annotation)[0])
    return annotation, False
