"""Write docs/reference/configuration.md from the settings Structs, so it cannot rot.

Run ``uv run python docs/scripts/gen_configuration.py`` after changing a settings
Struct; ``tests/docs/test_docs_configuration.py`` fails while the page differs from
what this prints. Each variable's description is the ``Attributes:`` entry of its
Struct's docstring, or (for Structs without one) :data:`FALLBACK` below.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "reference" / "configuration.md"
#: Stellate's own plugins, in the order the page lists them.
PLUGINS = ("orm", "rest", "auth", "tasks", "admin")

#: Descriptions for fields whose Struct docstring has no ``Attributes:`` entry.
FALLBACK = {
    "STELLATE_ENV": "`development`, `test` or `production`. Production refuses to start "
    "without a secret key, with debug on, or (orm) without a database URL.",
    "STELLATE_DEBUG": "tracebacks in error responses (JSON for API clients, a page for "
    "browsers); refused in production.",
    "STELLATE_SECRET_KEY": "signs cursors, sessions and tokens; required in production "
    "(`stellate check --deploy` wants ≥ 50 characters).",
    "STELLATE_LOG_LEVEL": "level of Stellate's loggers (and of `stellate run`).",
}

#: Variables read outside the settings Structs.
OTHER = (
    (
        "STELLATE_PLUGINS",
        "comma-separated names, or `installed`",
        "unset",
        "the plugins of an `App()` created without `plugins=`.",
    ),
    (
        "STELLATE_APP",
        "`module:attribute`",
        "unset",
        "the app of `stellate` commands that need one (same as `--app`).",
    ),
    (
        "STELLATE_TEST_DATABASE_URL",
        "PostgreSQL URL",
        "unset",
        "the server the pytest fixtures create their `stellate_test_*` databases on; "
        "unset: an embedded PostgreSQL.",
    ),
    (
        "STELLATE_TEST_REDIS_URL",
        "Redis URL",
        "unset",
        "the Redis Stellate's own tests (and projects made by `stellate new`) use; "
        "unset: an embedded Redis.",
    ),
)


def sections() -> Iterator[tuple[str, str, str, type[msgspec.Struct]]]:
    """(title, distribution, prefix, Struct) for every settings Struct, core first."""
    from stellate.core.settings import CoreSettings

    yield "Core", "stellate-core", "STELLATE_", CoreSettings
    found = {ep.name: ep for ep in metadata.entry_points(group="stellate.plugins")}
    for name in PLUGINS:
        entry_point = found.get(name)
        if entry_point is None:
            continue
        plugin = entry_point.load()()
        if plugin.settings is not None:
            title = f"`{name}` plugin"
            yield title, entry_point.dist.name, plugin.settings_prefix(), plugin.settings
        if name == "orm":
            from stellate.orm.migrations.config import MigrationSettings

            yield "Migration commands", "stellate-orm", "STELLATE_", MigrationSettings


def attribute_docs(struct: type) -> dict[str, str]:
    """Field descriptions: ``#:`` comments above fields, then the docstring's ``Attributes:``."""
    entries: dict[str, str] = {}
    comment: list[str] = []
    for line in inspect.getsource(struct).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            comment.append(stripped[2:].strip())
            continue
        field = re.match(r"^(\w+):", stripped)
        if field and comment:
            entries[field.group(1)] = " ".join(comment).replace("``", "`")
        comment = []
    doc = inspect.getdoc(struct) or ""
    match = re.search(r"^Attributes:\n(.*?)(?:\n\S|\Z)", doc, flags=re.MULTILINE | re.DOTALL)
    if not match:
        return entries
    current = None
    for line in match.group(1).splitlines():
        head = re.match(r"^    (\w+):\s*(.*)$", line)
        if head:
            current = head.group(1)
            entries[current] = head.group(2).strip()
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return {name: text.replace("``", "`") for name, text in entries.items()}


def type_text(annotation: Any) -> str:
    """A short, readable description of a settings field's type and constraints."""
    constraints: list[str] = []
    while typing.get_origin(annotation) is Annotated:
        annotation, *metas = typing.get_args(annotation)
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                for key, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                    value = getattr(meta, key)
                    if value is not None:
                        constraints.append(f"{symbol} {value}")
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        text = " or ".join(parts)
    elif origin is Literal:
        text = ", ".join(f"`{value}`" for value in typing.get_args(annotation))
    elif origin in (list, tuple, set, frozenset):
        text = "comma-separated list (or JSON array)"
    elif origin is dict:
        text = "JSON object"
    elif annotation is bool:
        text = "`true`/`false`/`1`/`0`"
    elif annotation in (int, float):
        text = "integer" if annotation is int else "number"
    elif annotation is str:
        text = "string"
    elif isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        text = "JSON object"
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return text + (f" ({', '.join(constraints)})" if constraints else "")


def default_text(field: msgspec.structs.FieldInfo) -> str:
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "required"
    if value == "":
        return "empty"
    if value is None or value == [] or value == {}:
        return "unset" if value is None else ("`[]`" if value == [] else "`{}`")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}…`"


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/scripts/gen_configuration.py from the settings Structs;",
        "     tests/docs/test_docs_configuration.py fails when this page is stale. -->",
        "",
        "Every setting is read from an environment variable when the app is built (plugins",
        "only when enabled). Values passed to `App(settings={...})` win over the",
        'environment: core fields at the top level (`{"debug": True}`), a plugin\'s under',
        'its name (`{"orm": {"pool_size": 4}}`, `{"auth": {"idle_timeout": 600}}`). A bad',
        "value stops startup with the variable and the accepted values, e.g.",
        "``STELLATE_DEBUG=`maybe` is not valid: expected a boolean``.",
        "",
        "Lists take commas (`a,b`) or a JSON array; objects take JSON. Durations are in",
        "seconds unless the description says milliseconds.",
        "",
    ]
    for title, distribution, prefix, struct in sections():
        docs = attribute_docs(struct)
        hints = typing.get_type_hints(struct, include_extras=True)
        lines += [f"## {title}", "", f"From `{distribution}` (`{struct.__qualname__}`).", ""]
        lines += ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
        from stellate.core.settings import env_names

        names = env_names(struct, prefix)
        for field in msgspec.structs.fields(struct):
            variables = names[field.name]
            primary = variables[0]
            description = docs.get(field.name) or FALLBACK.get(primary)
            if not description:
                raise SystemExit(
                    f"{struct.__qualname__}.{field.name} ({primary}) has no description: add it "
                    f"to the Struct's `Attributes:` docstring or to FALLBACK in {__file__}"
                )
            shown = " or ".join(f"`{name}`" for name in variables)
            cell = description.replace("|", "\\|")
            lines.append(
                f"| {shown} | {type_text(hints[field.name])} | {default_text(field)} | {cell} |"
            )
        lines.append("")
    lines += ["## Read outside the settings", ""]
    lines += ["| variable | value | default | meaning |", "| --- | --- | --- | --- |"]
    for name, value, default, meaning in OTHER:
        lines.append(f"| `{name}` | {value} | {default} | {meaning} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if TARGET.read_text(encoding="utf-8") != text:
            raise SystemExit(f"{TARGET} is stale: run python {Path(__file__).relative_to(ROOT)}")
        return
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
