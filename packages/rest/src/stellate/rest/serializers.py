"""Model serializers on msgspec: a read shape and validated write schemas from a model.

A ``ModelSerializer`` turns model instances into JSON-ready dicts and request bodies
into validated attribute dicts. Its write schemas are msgspec Structs derived from the
model's fields (types and ``ge``/``le``/``min_length``/``max_length``/``regex``
constraints), so the happy path is a single msgspec decode; only when that decode fails
is the body examined field by field to report *every* failing field.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from stellate.orm.models import Model
from stellate.rest._plan import SECRET_FIELD_NAMES, ReadOnlyField, SerializerPlan
from stellate.rest.exceptions import ParseError, ValidationError

__all__ = [
    "SECRET_FIELD_NAMES",
    "SERVER_OWNED_FIELD_NAMES",
    "ModelSerializer",
    "ReadOnlyField",
    "model_serializer_for",
]

M = TypeVar("M", bound=Model)

#: Fields a derived serializer treats as server-owned (read-only): timestamps and owner.
SERVER_OWNED_FIELD_NAMES = frozenset({"created_at", "updated_at", "owner", "owner_id"})

_NON_FIELD = "non_field_errors"
_TOO_DEEP = "Malformed JSON body: nested too deeply; send a JSON object of fields"


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"Malformed JSON body: not valid UTF-8 ({exc.reason} at byte {exc.start})"


class ModelSerializer(Generic[M]):
    """Serializes model instances and validates request bodies for them.

    Configure it with an inner ``Meta``:

    - ``model``: the model class.
    - ``fields``: the field names to expose (``"__all__"`` for every model field);
      ``exclude`` removes names.
    - ``read_only_fields``: output only. Auto primary keys are always read-only.
    - ``write_only_fields``: input only (never output).
    - ``schema_name``: the OpenAPI schema name (the class name without ``Serializer``
      by default; output is ``<name>``, bodies ``<name>Input`` and ``<name>Patch``).
    - ``secret_fields``: never output, and not writable through the API unless also
      listed in ``fields``; fields marked ``secret`` on the model and the names in
      ``SECRET_FIELD_NAMES`` are secret too.

    Declared attributes add output fields: another serializer (nested, read from
    ``source``, ``many=True`` for lists, loaded with ``select_related`` /
    ``prefetch_related``, which views apply for you) or a ``ReadOnlyField`` (e.g. an
    annotation). Hooks ``validate_<field>(self, value)`` and ``validate(self, attrs)``
    return the (possibly changed) value or attrs and raise ``ValidationError`` (or
    ``ValueError``) to reject them; they may be ``async``.

    Args:
        instance: The object (or objects with ``many=True``) to serialize or update.
        data: A request body (bytes) or an already decoded mapping, to validate.
        many: ``instance`` is a list; as a declared field: the source is a list.
        partial: Validate only the fields sent (PATCH).
        context: Anything hooks need, e.g. ``{"request": request, "view": view}``.
        source: As a declared field: the attribute to read (its name by default).

    Example:
        ```python
        class BookSerializer(ModelSerializer[Book]):
            author = AuthorSerializer(source="author")
            reviews = ReviewSerializer(many=True)

            class Meta:
                model = Book
                fields = ["id", "title", "price", "author_id", "author", "reviews"]
                read_only_fields = ["id"]

            def validate_title(self, value: str) -> str:
                if value.strip() != value:
                    raise ValidationError("no leading or trailing spaces")
                return value
        ```
    """

    Meta: ClassVar[type]

    def __init__(
        self,
        instance: Any = None,
        data: bytes | Mapping[str, Any] | None = None,
        *,
        many: bool = False,
        partial: bool = False,
        context: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> None:
        self.instance = instance
        self.initial_data = data
        self.many = many
        self.partial = partial
        self.context: dict[str, Any] = dict(context or {})
        self.source = source
        self._validated: dict[str, Any] | None = None

    @classmethod
    def compiled(cls) -> SerializerPlan:
        """The class's compiled schemas and renderer (built on first use, then cached)."""
        compiled = cls.__dict__.get("_compiled_")
        if compiled is None:
            compiled = SerializerPlan(cls)
            cls._compiled_ = compiled  # type: ignore[attr-defined]
        return typing.cast("SerializerPlan", compiled)

    # -- output ------------------------------------------------------------------------

    def to_representation(self, instance: M) -> dict[str, Any]:
        """The JSON-ready dict of one instance."""
        return self.compiled().render(instance)

    @property
    def data(self) -> Any:
        """The serialized ``instance`` (a list with ``many=True``)."""
        render = self.compiled().render
        if self.many:
            return [render(obj) for obj in self.instance or ()]
        if self.instance is None:
            return None
        return render(self.instance)

    @classmethod
    def related_loads(cls) -> tuple[list[str], list[str]]:
        """Relations nested fields read: ``(select_related, prefetch_related)`` names."""
        compiled = cls.compiled()
        return compiled.select_related, compiled.prefetch_related

    # -- input ------------------------------------------------------------------------

    @property
    def validated_data(self) -> dict[str, Any]:
        """The validated attributes; call ``await is_valid()`` first."""
        if self._validated is None:
            raise RuntimeError(
                f"`{type(self).__name__}.validated_data` is read before validation: "
                "`await serializer.is_valid()` first"
            )
        return self._validated

    async def is_valid(self, *, raise_exception: bool = True) -> bool:
        """Validate ``data``; on failure raise ``ValidationError`` listing every field.

        Returns:
            ``True`` when valid (``False`` only with ``raise_exception=False``).

        Raises:
            ParseError: The body is not JSON.
            ValidationError: Wrong types, missing or unknown fields, failed constraints
                or hooks; ``errors`` has every failing field.
        """
        try:
            self._validated = await self._validate()
        except ValidationError:
            if raise_exception:
                raise
            return False
        return True

    async def _validate(self) -> dict[str, Any]:
        compiled = self.compiled()
        data = self.initial_data
        if data is None or data == b"":
            raise ParseError("Request body is empty: send a JSON object")
        decoder = compiled.update_decoder if self.partial else compiled.create_decoder
        try:
            if isinstance(data, bytes | bytearray | memoryview | str):
                struct = decoder.decode(data)
            else:
                struct = msgspec.convert(
                    data, compiled.update_struct if self.partial else compiled.create_struct
                )
        except (msgspec.ValidationError, msgspec.DecodeError):
            attrs, errors = self._collect_errors(data)
        except UnicodeDecodeError as exc:
            raise ParseError(_not_utf8(exc)) from None
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        else:
            attrs = {
                name: value
                for name in compiled.writable
                if (value := getattr(struct, name)) is not msgspec.UNSET
            }
            errors = {}
        for name, value in list(attrs.items()):
            if type(value) is str and "\x00" in value:
                # PostgreSQL text cannot hold NUL: name the field instead of failing in SQL.
                errors[name] = ["NUL characters (`\\u0000`) are not allowed: remove them"]
                del attrs[name]
            elif type(value) is Decimal and not value.is_finite():
                # msgspec accepts "NaN" and "Infinity"; no bound can be checked against them.
                errors[name] = [f"Expected a finite number, got `{value}`"]
                del attrs[name]
        for field in compiled.post_checks:
            if attrs.get(field.name) is not None:
                problems = field.clean(attrs[field.name])[1]
                if problems:
                    errors[field.name] = problems
                    del attrs[field.name]
        for name, hook in compiled.hooks.items():
            if name not in attrs:
                continue
            try:
                attrs[name] = await _maybe_await(hook(self, attrs[name]))
            except (ValidationError, ValueError) as exc:
                errors.setdefault(name, []).extend(_messages(exc))
        if errors:
            raise ValidationError("Invalid data", errors=errors)
        try:
            result = await _maybe_await(self.validate(attrs))
        except (ValidationError, ValueError) as exc:
            if isinstance(exc, ValidationError) and exc.errors:
                raise ValidationError("Invalid data", errors=exc.errors) from None
            raise ValidationError("Invalid data", errors={_NON_FIELD: _messages(exc)}) from None
        return dict(result)

    def _collect_errors(
        self, data: bytes | bytearray | memoryview | str | Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        # The error path only: msgspec reports the first problem, clients want them all.
        compiled = self.compiled()
        if isinstance(data, Mapping):
            raw: Any = data
        else:
            try:
                raw = msgspec.json.decode(data)
            except msgspec.DecodeError as exc:
                raise ParseError(f"Malformed JSON body: {exc}") from None
            except UnicodeDecodeError as exc:
                raise ParseError(_not_utf8(exc)) from None
            except RecursionError:
                raise ParseError(_TOO_DEEP) from None
        if not isinstance(raw, dict):
            kind = type(raw).__name__
            raise ValidationError(
                f"Expected a JSON object, got `{kind}`",
                errors={_NON_FIELD: [f"Expected a JSON object with fields, got `{kind}`"]},
            )
        errors: dict[str, list[str]] = {}
        attrs: dict[str, Any] = {}
        writable = compiled.writable
        for key in raw:
            if key in writable:
                continue
            if key in compiled.read_only:
                errors[key] = ["This field is read-only"]
            else:
                listed = ", ".join(f"`{n}`" for n in writable)
                errors[key] = [f"Unknown field `{key}`; writable fields: {listed}"]
        for name, spec in writable.items():
            if name not in raw:
                if spec.required and not self.partial:
                    errors[name] = ["This field is required"]
                continue
            try:
                attrs[name] = msgspec.json.decode(msgspec.json.encode(raw[name]), type=spec.type)
            except msgspec.ValidationError as exc:
                message = str(exc)
                if spec.enum_type is not None and message.startswith("Invalid enum value"):
                    allowed = ", ".join(f"`{m.value}`" for m in spec.enum_type)
                    message = f"`{raw[name]}` is not one of the allowed values: {allowed}"
                errors[name] = [message]
        if not errors:  # pragma: no cover - msgspec and this pass disagree
            errors[_NON_FIELD] = ["Invalid data"]
        return attrs, errors

    def validate(self, attrs: dict[str, Any]) -> Any:
        """Check the attributes together; return them (changed or not) or raise.

        Raise ``ValidationError(errors={"field": [...]})`` to blame fields, or a plain
        ``ValidationError``/``ValueError`` for an error about the whole object.
        """
        return attrs

    # -- saving -----------------------------------------------------------------------

    async def save(self, **extra: Any) -> M:
        """Create (no ``instance``) or update ``instance`` with the validated data.

        Args:
            **extra: Server-side values to set as well, e.g. ``owner_id=user["id"]``.

        Returns:
            The saved instance (also kept as ``instance``).
        """
        attrs = {**self.validated_data, **extra}
        if self.instance is None:
            self.instance = await self.create(attrs)
        else:
            self.instance = await self.update(self.instance, attrs)
        return typing.cast("M", self.instance)

    async def create(self, attrs: dict[str, Any]) -> M:
        """INSERT a new instance from ``attrs`` (override for custom creation)."""
        model = typing.cast("type[M]", self.compiled().model)
        obj = model(**attrs)
        await obj.save()
        return obj

    async def update(self, instance: M, attrs: dict[str, Any]) -> M:
        """UPDATE ``instance`` with ``attrs`` (only those columns are written)."""
        if not attrs:
            return instance
        for name, value in attrs.items():
            instance.__dict__[name] = value
            relation = instance._meta.fields[name].relation_name
            if relation != name:
                # A changed foreign key makes a loaded related instance stale.
                instance.__dict__.pop(relation, None)
        await instance.save(update_fields=list(attrs))
        return instance


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        messages = [m for items in exc.errors.values() for m in items]
        return messages or [str(exc.detail)]
    return [str(exc)]


def model_serializer_for(
    model: type[M], *, read_only: Iterable[str] = ()
) -> type[ModelSerializer[M]]:
    """Derive a serializer exposing every field of ``model`` (what ``model = X`` views use).

    Server-owned fields (auto primary key, database defaults, ``created_at``,
    ``updated_at``, ``owner``/``owner_id``) are read-only; secret fields never appear.

    Args:
        model: The model class.
        read_only: More names to make read-only.
    """
    meta = model._meta
    owned = {
        name
        for name, field in meta.fields.items()
        if field.primary_key
        or field.auto
        or field.db_default is not None
        or name in SERVER_OWNED_FIELD_NAMES
    } | set(read_only)
    meta_cls = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": "__all__",
            "read_only_fields": sorted(owned),
            "schema_name": model.__name__,
        },
    )
    return typing.cast(
        "type[ModelSerializer[M]]",
        type(f"{model.__name__}Serializer", (ModelSerializer,), {"Meta": meta_cls}),
    )
