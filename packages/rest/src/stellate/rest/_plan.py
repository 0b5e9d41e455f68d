"""The compiled form of a serializer class: its field specs, msgspec schemas and renderer.

Built once per serializer class on first use (``ModelSerializer.compiled()``), so a
request only runs what was prepared here.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from stellate.orm._relations import LoadedKey
from stellate.orm.exceptions import FieldError
from stellate.orm.models import Model
from stellate.rest._compat import loaded_value

if TYPE_CHECKING:
    from stellate.orm.fields import Field
    from stellate.rest.serializers import ModelSerializer

__all__ = ["SECRET_FIELD_NAMES", "ReadOnlyField", "SerializerPlan"]

#: Field names treated as secret (never output) even when the model does not mark
#: them: a password hash in an API response is always a bug.
SECRET_FIELD_NAMES = frozenset({"password", "password_hash", "secret", "token_hash", "key_hash"})


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


class SerializerPlan:
    """What a serializer class needs per request, built once on first use."""

    def __init__(self, serializer: type[ModelSerializer[Any]]) -> None:
        from stellate.rest.serializers import ModelSerializer as serializer_base

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
            if isinstance(value, ReadOnlyField | serializer_base)
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
            if isinstance(value, serializer_base):
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
    ge, le = field.ge, field.le
    column_range = field.integer_range() if base is int else None
    if column_range is not None:
        # A number the column cannot hold is the client's error, named like any bound,
        # not a database error after the fact.
        ge = column_range[0] if ge is None else max(ge, column_range[0])
        le = column_range[1] if le is None else min(le, column_range[1])
    if ge is not None and numeric:
        constraints["ge"] = ge
    if le is not None and numeric:
        constraints["le"] = le
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
