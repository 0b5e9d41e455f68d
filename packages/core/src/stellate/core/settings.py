"""Settings read from the environment into msgspec Structs.

Each plugin owns one Struct type; every field is read from an environment
variable named ``<prefix><FIELD>`` (``STELLATE_DEBUG`` for ``debug``) or from
one of the aliases listed in the field's ``msgspec.Meta(extra={"env": [...]})``.
Values given to ``App(settings=...)`` win over the environment.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec

__all__ = [
    "CoreSettings",
    "SettingsError",
    "env_names",
    "load_settings",
]

S = TypeVar("S", bound=msgspec.Struct)

Environment = Literal["development", "test", "production"]


class CoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of the core, read from ``STELLATE_*`` variables."""

    env: Environment = "development"
    debug: bool = False
    secret_key: Annotated[str | None, msgspec.Meta(extra={"secret": True})] = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Largest request body in bytes (413 above it; ``0``: no limit); see ``core.limits``.
    max_body_size: Annotated[int, msgspec.Meta(ge=0)] = 10 * 1024 * 1024
    #: Seconds to receive a request body (408 after it; ``0``: no limit).
    body_timeout: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    #: Host names the app answers (``Host`` header; ``*.example.com`` covers the
    #: subdomains); others get 400. Empty: no check (a proxy in front may do it).
    allowed_hosts: list[str] = msgspec.field(default_factory=list)

    @property
    def is_production(self) -> bool:
        return self.env == "production"


class SettingsError(Exception):
    """One or more settings have invalid values; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


def env_names(struct_type: type[msgspec.Struct], prefix: str) -> dict[str, list[str]]:
    """Map each field of ``struct_type`` to the variables it reads, in priority order."""
    info = msgspec.inspect.type_info(struct_type)
    assert isinstance(info, msgspec.inspect.StructType)
    names: dict[str, list[str]] = {}
    for field in info.fields:
        candidates = [f"{prefix}{field.name.upper()}"]
        extra = _field_extra(field.type)
        candidates.extend(extra.get("env", ()))
        names[field.name] = candidates
    return names


def load_settings(
    struct_type: type[S],
    *,
    prefix: str = "STELLATE_",
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> S:
    """Build a ``struct_type`` from the environment and explicit overrides.

    Args:
        struct_type: the msgspec Struct describing the settings.
        prefix: prefix of the environment variables (``STELLATE_`` by default).
        environ: the environment to read; ``os.environ`` when omitted.
        overrides: values that win over the environment, keyed by field name.

    Returns:
        The validated settings.

    Raises:
        SettingsError: listing every invalid value with its variable and the accepted values.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    hints = typing.get_type_hints(struct_type, include_extras=True)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field, candidates in env_names(struct_type, prefix).items():
        if field in overrides:
            source, raw = f"settings[{field!r}]", overrides.pop(field)
            strict = True
        else:
            found = next((name for name in candidates if name in environ), None)
            if found is None:
                continue
            source, raw = found, environ[found]
            strict = False
        try:
            values[field] = _convert(raw, hints[field], strict=strict)
        except msgspec.ValidationError as exc:
            problems.append(f"{source}=`{raw}` is not valid: {_describe(hints[field], exc)}")
    for unknown in overrides:
        valid = ", ".join(f"`{n}`" for n in env_names(struct_type, prefix))
        problems.append(f"Unknown setting `{unknown}` (valid: {valid})")
    if problems:
        raise SettingsError(problems)
    try:
        return msgspec.convert(values, struct_type)
    except msgspec.ValidationError as exc:
        raise SettingsError([str(exc)]) from None


def _convert(raw: Any, annotation: Any, *, strict: bool) -> Any:
    if isinstance(raw, str) and not strict:
        base = _strip_annotated(annotation)
        if raw == "" and _allows_none(base):
            return None
        if _is_container(base):
            try:
                raw = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                raw = [part.strip() for part in raw.split(",") if part.strip()]
    return msgspec.convert(raw, annotation, strict=strict)


def _describe(annotation: Any, exc: msgspec.ValidationError) -> str:
    base = _strip_annotated(annotation)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(base) if a is not type(None)]
    else:
        args = [base]
    literals = [
        value for arg in args if typing.get_origin(arg) is Literal for value in typing.get_args(arg)
    ]
    if literals:
        return "expected one of " + ", ".join(f"`{v}`" for v in literals)
    if bool in args:
        return "expected a boolean: one of `true`, `false`, `1`, `0`"
    message = str(exc)
    return message[0].lower() + message[1:] if message else "invalid value"


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _allows_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _is_container(annotation: Any) -> bool:
    containers = (list, tuple, set, frozenset, dict)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_container(arg) for arg in typing.get_args(annotation))
    return annotation in containers or typing.get_origin(annotation) in containers


def _field_extra(field_type: msgspec.inspect.Type) -> dict[str, Any]:
    extra = getattr(field_type, "extra", None)
    if extra:
        return dict(extra)
    for inner in getattr(field_type, "types", ()):
        found = _field_extra(inner)
        if found:
            return found
    return {}
