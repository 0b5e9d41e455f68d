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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec

from stellate.orm._relations import LoadedKey
from stellate.orm.exceptions import FieldError
from stellate.orm.models import Model
from stellate.rest._compat import loaded_value
from stellate.rest.exceptions import ParseError, ValidationError

if TYPE_CHECKING:
    from stellate.orm.fields import Field

__all__ = [
    "SECRET_FIELD_NAMES",
    "SERVER_OWNED_FIELD_NAMES",
    "ModelSerializer",
    "ReadOnlyField",
    "model_serializer_for",
]

M = TypeVar("M", bound=Model)

#: Field names treated as secret (never output) even when the model does not mark
#: them: a password hash in an API response is always a bug.
SECRET_FIELD_NAMES = frozenset({"password", "password_hash", "secret", "token_hash", "key_hash"})
#: Fields a derived serializer treats as server-owned (read-only): timestamps and owner.
SERVER_OWNED_FIELD_NAMES = frozenset({"created_at", "updated_at", "owner", "owner_id"})

_NON_FIELD = "non_field_errors"


class ReadOnlyField:
    """An output-only value read from the instance, such as an annotation.

    Args:
        type: The value's type (used for the OpenAPI schema), ``Any`` by default.
        source: The attribute to read; the field's own name by default.

    Example:
        ```python
        class BookSerializer(ModelSerializer):
            review_count = ReadOnlyField(int)  # from .annotate(review_count=Count(...))
        ```
    """

    def __init__(self, type: Any = Any, *, source: str | None = None) -> None:
        self.type = type
        self.source = source


class _ReadSpec(msgspec.Struct):
    name: str
    source: str
    nested: ModelSerializer[Any] | None = None
    many: bool = False
    type: Any = Any


class _WriteSpec(msgspec.Struct):
    name: str
    type: Any
    required: bool
    enum_type: Any = None


class _Compiled:
    """What a serializer class needs per request, built once on first use."""

    def __init__(self, serializer: type[ModelSerializer[Any]]) -> None:
        meta = getattr(serializer, "Meta", None)
        model = getattr(meta, "model", None)
        where = serializer.__qualname__
        if not (isinstance(model, type) and issubclass(model, Model)):
            raise TypeError(f"`{where}` needs `class Meta: model = <Model class>`; got `{model!r}`")
        self.model: type[Model] = model
        model_meta = model._meta
        declared = {
            name: value
            for klass in reversed(serializer.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, ReadOnlyField | ModelSerializer)
        }
        fields_option = getattr(meta, "fields", None)
        exclude = set(getattr(meta, "exclude", ()) or ())
        if fields_option is None and not exclude:
            raise TypeError(
                f'`{where}.Meta` must list `fields` (or `fields = "__all__"`, or `exclude`): '
                "an explicit list keeps new model columns from leaking into the API"
            )
        if fields_option in (None, "__all__"):
            names = [n for n in model_meta.field_names if n not in exclude]
            names += [n for n in declared if n not in names and n not in exclude]
        else:
            names = [n for n in fields_option if n not in exclude]
            forgotten = [n for n in declared if n not in names and n not in exclude]
            if forgotten:
                listed = ", ".join(f"`{n}`" for n in forgotten)
                raise TypeError(
                    f"`{where}` declares {listed} but `Meta.fields` does not list "
                    f"{'it' if len(forgotten) == 1 else 'them'}: add to `fields` or remove "
                    "the declaration"
                )
        valid = set(model_meta.field_names) | set(declared)
        for option in ("fields", "exclude", "read_only_fields", "write_only_fields"):
            value = getattr(meta, option, None)
            if value is None or value == "__all__":
                continue
            if isinstance(value, str):
                raise TypeError(
                    f"`{where}.Meta.{option}` must be a list of names, got the string "
                    f"`{value!r}`: write `[{value!r}]`"
                )
            for name in value:
                if name not in valid:
                    raise FieldError(_unknown(where, option, name, model.__name__, valid))
        read_only = set(getattr(meta, "read_only_fields", ()) or ())
        write_only = set(getattr(meta, "write_only_fields", ()) or ())
        secret = set(getattr(meta, "secret_fields", ()) or ())
        for name in model_meta.field_names:
            field = model_meta.fields[name]
            if getattr(field, "secret", False) or name in SECRET_FIELD_NAMES:
                secret.add(name)
        self.read: list[_ReadSpec] = []
        self.writes: list[_WriteSpec] = []
        self.post_checks: list[Field] = []
        for name in names:
            value = declared.get(name)
            if isinstance(value, ModelSerializer):
                self.read.append(
                    _ReadSpec(name, value.source or name, nested=value, many=value.many)
                )
                continue
            if isinstance(value, ReadOnlyField):
                self.read.append(_ReadSpec(name, value.source or name, type=value.type))
                continue
            field = model_meta.fields[name]
            server_owned = field.auto or (field.primary_key and field.db_default is not None)
            if name not in write_only and name not in secret:
                self.read.append(_ReadSpec(name, name, type=field.annotation))
            implicit = fields_option in (None, "__all__")
            if name not in read_only and not server_owned and not (implicit and name in secret):
                self.writes.append(
                    _WriteSpec(name, _write_type(field), field.required, field.enum_type)
                )
                bounded = field.ge is not None or field.le is not None
                if bounded and field.python_type not in (int, float):
                    self.post_checks.append(field)
        self.readable = [spec.name for spec in self.read]
        self.writable = {spec.name: spec for spec in self.writes}
        self.read_only = [n for n in names if n not in self.writable and n in model_meta.fields] + [
            n for n in names if n in declared
        ]
        self.select_related: list[str] = []
        self.prefetch_related: list[str] = []
        for spec in self.read:
            if spec.nested is None:
                continue
            if spec.source in model_meta.relations:
                self.select_related.append(spec.source)
            else:
                self.prefetch_related.append(spec.source)
        # Schema names (OpenAPI components): `BookDetailSerializer` -> `BookDetail`.
        self.serializer = serializer
        self.schema_name: str = getattr(meta, "schema_name", None) or (
            serializer.__name__.removesuffix("Serializer") or serializer.__name__
        )
        self.create_struct = _make_struct(f"{self.schema_name}Input", self.writes, partial=False)
        self.update_struct = _make_struct(f"{self.schema_name}Patch", self.writes, partial=True)
        self._read_struct: type[msgspec.Struct] | None = None
        self.create_decoder = msgspec.json.Decoder(self.create_struct)
        self.update_decoder = msgspec.json.Decoder(self.update_struct)
        self.hooks: dict[str, Callable[..., Any]] = {
            spec.name: getattr(serializer, f"validate_{spec.name}")
            for spec in self.writes
            if callable(getattr(serializer, f"validate_{spec.name}", None))
        }
        self.render = self._build_renderer()

    def read_struct(self) -> type[msgspec.Struct]:
        """A Struct describing the output (used for the OpenAPI schema, not on requests)."""
        if self._read_struct is None:
            fields: list[tuple[str, Any]] = []
            for spec in self.read:
                if spec.nested is not None:
                    inner: Any = spec.nested.compiled().read_struct()
                    relation = self.model._meta.relations.get(spec.source)
                    if spec.many:
                        kind: Any = list[inner]
                    elif relation is None or relation.nullable:
                        kind = inner | None
                    else:
                        kind = inner
                    fields.append((spec.name, kind))
                else:
                    fields.append((spec.name, spec.type))
            self._read_struct = msgspec.defstruct(self.schema_name, fields, kw_only=True)
        return self._read_struct

    def _build_renderer(self) -> Callable[[Any], dict[str, Any]]:
        # The renderer is generated code: one dict display per instance with each value
        # read straight from the instance's __dict__, so output costs no per-field
        # Python dispatch (this is most of a list endpoint's time after the query).
        model_meta = self.model._meta
        namespace: dict[str, Any] = {"_lk": LoadedKey, "_read": _read_attr}
        items: list[str] = []
        for index, spec in enumerate(self.read):
            key = repr(spec.name)
            if spec.nested is None and spec.source == spec.name:
                field = model_meta.fields.get(spec.name)
                if field is not None and field.foreign_key is not None:
                    # select_related("x_id") leaves a LoadedKey: output the raw key.
                    items.append(f"{key}: _raw(g({key}))")
                    namespace["_raw"] = loaded_value
                else:
                    items.append(f"{key}: g({key})")
                continue
            source = repr(spec.source)
            if "." in spec.source:
                read = f"_read(obj, {source})"
            else:
                # Not loaded raises NotLoadedError: attribute access never queries.
                read = f"(d[{source}] if {source} in d else _read(obj, {source}))"
            if spec.nested is None:
                items.append(f"{key}: {read}")
                continue
            renderer = f"_r{index}"
            namespace[renderer] = spec.nested.compiled().render
            if spec.many:
                items.append(f"{key}: [{renderer}(i) for i in ({read} or ())]")
            else:
                items.append(
                    f"{key}: (None if (v{index} := {read}) is None else {renderer}(v{index}))"
                )
        body = ", ".join(items)
        code = f"def render(obj):\n    d = obj.__dict__\n    g = d.get\n    return {{{body}}}\n"
        exec(compile(code, f"<{self.serializer.__qualname__} renderer>", "exec"), namespace)  # noqa: S102 - generated from field names only
        return typing.cast("Callable[[Any], dict[str, Any]]", namespace["render"])


def _read_attr(obj: Any, source: str) -> Any:
    value: Any = obj
    for part in source.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            data = getattr(value, "__dict__", {})
            # Not loaded raises (NotLoadedError): attribute access never queries.
            value = data[part] if part in data else getattr(value, part)
        if value is None:
            return None
    return loaded_value(value)


def _unknown(where: str, option: str, name: str, model: str, valid: Iterable[str]) -> str:
    import difflib

    choices = sorted(valid)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    listed = ", ".join(f"`{c}`" for c in choices)
    return (
        f"`{where}.Meta.{option}` names `{name}`, which is not a field of `{model}` "
        f"nor a declared serializer field{hint}; valid names: {listed}"
    )


def _write_type(field: Field) -> Any:
    base: Any = field.python_type
    if field.enum_type is not None:
        base = field.enum_type
    elif base is dict:
        base = dict[str, Any]
    elif base is list:
        base = list[Any]
    constraints: dict[str, Any] = {}
    # msgspec bounds only int and float; other bounds (Decimal, dates) are checked by
    # the model field after decoding (see `_Compiled.post_checks`).
    numeric = base in (int, float)
    if field.ge is not None and numeric:
        constraints["ge"] = field.ge
    if field.le is not None and numeric:
        constraints["le"] = field.le
    if field.min_length is not None:
        constraints["min_length"] = field.min_length
    if field.max_length is not None:
        constraints["max_length"] = field.max_length
    if field.regex is not None:
        # msgspec searches; the model's regex must match the whole string.
        constraints["pattern"] = f"^(?:{field.regex})$"
    if constraints:
        base = typing.Annotated[base, msgspec.Meta(**constraints)]
    if field.nullable:
        base = base | None
    return base


def _make_struct(name: str, specs: Sequence[_WriteSpec], *, partial: bool) -> type[msgspec.Struct]:
    required = [(s.name, s.type) for s in specs if s.required and not partial]
    optional = [
        (s.name, s.type | msgspec.UnsetType, msgspec.UNSET)
        for s in specs
        if partial or not s.required
    ]
    return msgspec.defstruct(
        name,
        [*required, *optional],
        kw_only=True,
        forbid_unknown_fields=True,
    )


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
    def compiled(cls) -> _Compiled:
        """The class's compiled schemas and renderer (built on first use, then cached)."""
        compiled = cls.__dict__.get("_compiled_")
        if compiled is None:
            compiled = _Compiled(cls)
            cls._compiled_ = compiled  # type: ignore[attr-defined]
        return typing.cast("_Compiled", compiled)

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
        else:
            attrs = {
                name: value
                for name in compiled.writable
                if (value := getattr(struct, name)) is not msgspec.UNSET
            }
            errors = {}
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
