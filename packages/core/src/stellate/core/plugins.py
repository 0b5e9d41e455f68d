"""The plugin protocol and the loader that resolves, orders and validates plugins."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import msgspec

from stellate.core._graph import CycleError, topological_order
from stellate.core.settings import SettingsError, load_settings

if TYPE_CHECKING:
    from stellate.core.app import App

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY",
    "InstalledPlugin",
    "Plugin",
    "PluginSpec",
    "installed_plugins",
    "resolve_plugins",
]

logger = logging.getLogger("stellate.plugins")

ENTRY_POINT_GROUP = "stellate.plugins"

#: Distributions of the plugins shipped by the Stellate project, for install hints.
FIRST_PARTY = {
    "orm": "stellate-orm",
    "rest": "stellate-rest",
    "auth": "stellate-auth",
    "tasks": "stellate-tasks",
    "admin": "stellate-admin",
}

PluginSpec: TypeAlias = "Sequence[str | Plugin] | Literal['installed'] | None"


class Plugin:
    """Base class of every Stellate plugin.

    Subclasses set ``name`` and implement :meth:`setup`, which registers what the
    plugin brings on the one app it is given. Nothing may happen at import time and
    nothing is stored outside the app, so two apps in one process never share state.

    Attributes:
        name: the plugin's name, as users list it in ``plugins=[...]``.
        requires: plugins that must be enabled too; they are set up first.
        after: plugins to set up before this one when they are enabled.
        before: plugins to set up after this one when they are enabled.
        settings: a msgspec Struct type read from the environment (``None``: no settings).
        env_prefix: prefix of the environment variables of ``settings``
            (default ``STELLATE_<NAME>_``).
        extensions: names this plugin adds to the app (``app.<name>``), so a
            missing plugin can be named when one is read.
        config: the validated settings instance, set before ``setup()`` runs.
        distribution: the distribution that ships the plugin, set by the loader.

    Example:
        ```python
        class HelloPlugin(Plugin):
            name = "hello"

            def setup(self, app: App) -> None:
                @app.get("/hello")
                async def hello(request: Request) -> dict[str, str]:
                    return {"hello": "world"}
        ```
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[type[msgspec.Struct] | None] = None
    env_prefix: ClassVar[str | None] = None
    extensions: ClassVar[tuple[str, ...]] = ()

    config: Any = None
    distribution: str = "passed as an object"
    version: str = ""

    def setup(self, app: App) -> None:
        """Register routes, middleware, hooks, commands and extensions on ``app``."""
        raise NotImplementedError(f"Plugin `{type(self).__qualname__}` must implement setup(app)")

    def deploy_checks(self, app: App) -> list[str]:
        """Problems ``stellate check --deploy`` reports for this plugin, each with its fix.

        Runs after ``setup()``; the default finds none.
        """
        return []

    async def post_migrate(self, app: App, database_url: str) -> None:
        """Called after ``stellate migrate`` applied migrations to ``database_url``.

        For data that follows the schema (the auth plugin creates each model's
        permissions here). The default does nothing.
        """

    def settings_prefix(self) -> str:
        """The prefix of this plugin's environment variables."""
        if self.env_prefix is not None:
            return self.env_prefix
        return f"STELLATE_{self.name.upper().replace('-', '_')}_"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} from {self.distribution}>"


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """A plugin advertised by an installed distribution (not imported)."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint


def installed_plugins() -> dict[str, InstalledPlugin]:
    """Every plugin advertised in the ``stellate.plugins`` entry-point group, by name."""
    found: dict[str, InstalledPlugin] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        found.setdefault(
            entry_point.name,
            InstalledPlugin(
                name=entry_point.name,
                value=entry_point.value,
                distribution=dist.name if dist is not None else "(unknown distribution)",
                version=dist.version if dist is not None else "",
                entry_point=entry_point,
            ),
        )
    return found


def install_hint(name: str) -> str:
    """How to get plugin ``name`` installed."""
    dist = FIRST_PARTY.get(name)
    if dist is not None:
        return f"pip install {dist}"
    return (
        f"install the distribution that provides `{name}` in the `{ENTRY_POINT_GROUP}` "
        "entry-point group"
    )


def missing_plugin_reason(name: str, installed: Mapping[str, InstalledPlugin]) -> str:
    """Why plugin ``name`` is not available, with the fix."""
    if name in installed:
        return (
            f"installed ({installed[name].distribution}) but not enabled: "
            f'add "{name}" to plugins (or to STELLATE_PLUGINS)'
        )
    return f"not installed: {install_hint(name)}"


def requested_plugins(
    plugins: PluginSpec,
    environ: Mapping[str, str],
) -> Sequence[str | Plugin] | Literal["installed"]:
    """The plugin list an app asked for: its argument, else ``STELLATE_PLUGINS``, else none."""
    if plugins is not None:
        return plugins
    raw = environ.get("STELLATE_PLUGINS", "").strip()
    if raw == "installed":
        return "installed"
    return [part.strip() for part in raw.split(",") if part.strip()]


def resolve_plugins(
    plugins: PluginSpec,
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Mapping[str, Any]],
    problems: list[str],
) -> list[Plugin]:
    """Load, check, order and configure the requested plugins.

    Every problem found is appended to ``problems`` (each naming the plugin, its
    distribution and the fix) so the caller can report them all at once.

    Returns:
        The plugins in setup order, each with ``config`` set.
    """
    requested = requested_plugins(plugins, environ)
    installed = installed_plugins()
    if requested == "installed":
        requested = sorted(installed)
        logger.info(
            "Loading every installed plugin: %s",
            ", ".join(f"{p.name} ({p.distribution} {p.version})" for p in installed.values()),
        )

    loaded: dict[str, Plugin] = {}
    order: list[str] = []
    for item in requested:
        plugin = _load(item, installed, problems)
        if plugin is None:
            continue
        if plugin.name in loaded:
            problems.append(
                f"Plugin `{plugin.name}` is listed twice ({loaded[plugin.name].distribution} "
                f"and {plugin.distribution}): list it once"
            )
            continue
        loaded[plugin.name] = plugin
        order.append(plugin.name)

    for plugin in loaded.values():
        for needed in plugin.requires:
            if needed not in loaded:
                problems.append(
                    f"Plugin `{plugin.name}` ({plugin.distribution}) requires `{needed}`, which is "
                    + missing_plugin_reason(needed, installed)
                )

    edges: dict[str, set[str]] = {name: set() for name in order}
    for plugin in loaded.values():
        edges[plugin.name].update(plugin.requires, plugin.after)
        for later in plugin.before:
            if later in edges:
                edges[later].add(plugin.name)
    try:
        ordered = [loaded[name] for name in topological_order(order, edges)]
    except CycleError as exc:
        problems.append(
            f"Plugins form a cycle through requires/after/before: {exc}; "
            "remove one of these constraints"
        )
        return []

    for plugin in ordered:
        _configure(plugin, environ, overrides.get(plugin.name), problems)
    return ordered


def _load(
    item: str | Plugin, installed: Mapping[str, InstalledPlugin], problems: list[str]
) -> Plugin | None:
    if isinstance(item, Plugin):
        if not getattr(item, "name", None):
            problems.append(f"Plugin object {type(item).__qualname__} has no `name`: set one")
            return None
        return item
    if isinstance(item, type) and issubclass(item, Plugin):
        problems.append(
            f"Plugin class `{item.__qualname__}` was given; pass an instance: {item.__name__}()"
        )
        return None
    if not isinstance(item, str):
        problems.append(
            f"`{item!r}` is not a plugin: give a plugin name (str) or a Plugin instance"
        )
        return None
    found = installed.get(item)
    if found is None:
        problems.append(f"Plugin `{item}` is {missing_plugin_reason(item, {})}")
        return None
    try:
        target = found.entry_point.load()
    except Exception as exc:
        problems.append(
            f"Plugin `{item}` ({found.distribution} {found.version}) failed to import "
            f"`{found.value}`: {type(exc).__name__}: {exc}; fix the import or reinstall "
            f"{found.distribution}"
        )
        return None
    plugin = target() if isinstance(target, type) and issubclass(target, Plugin) else target
    if not isinstance(plugin, Plugin):
        problems.append(
            f"Entry point `{item}` of {found.distribution} points to `{found.value}`, which is "
            "not a stellate.core.Plugin subclass or instance"
        )
        return None
    if plugin.name != item:
        problems.append(
            f"Entry point `{item}` of {found.distribution} loads a plugin named "
            f"`{plugin.name}`: the entry-point name and `Plugin.name` must match"
        )
        return None
    plugin.distribution = found.distribution
    plugin.version = found.version
    return plugin


def _configure(
    plugin: Plugin,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    problems: list[str],
) -> None:
    if plugin.settings is None:
        if overrides:
            problems.append(
                f"Plugin `{plugin.name}` ({plugin.distribution}) has no settings, "
                f"but settings[{plugin.name!r}] was given: remove it"
            )
        return
    try:
        plugin.config = load_settings(
            plugin.settings,
            prefix=plugin.settings_prefix(),
            environ=environ,
            overrides=overrides,
        )
    except SettingsError as exc:
        problems.extend(
            f"Plugin `{plugin.name}` ({plugin.distribution}): {problem}" for problem in exc.problems
        )
