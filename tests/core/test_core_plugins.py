"""The plugin protocol: resolution, ordering, and every failure reported together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import click
import msgspec
import pytest

from stellate.core import App, Plugin, Request, StartupError
from stellate.core._graph import CycleError, topological_order
from stellate.core.plugins import installed_plugins
from stellate.core.testing import AppClient

Install = Callable[[str, dict[str, str], str], None]

# These tests read the first-party plugins' entry points; in the isolated core-only
# environment (`nox -s core`) those distributions are absent and the tests skip.
needs_first_party = pytest.mark.skipif(
    not {"orm", "rest", "admin"} <= set(installed_plugins()),
    reason="needs stellate-orm, stellate-rest and stellate-admin installed",
)


def make_plugin(
    name: str,
    *,
    requires: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    before: tuple[str, ...] = (),
    log: list[str] | None = None,
    setup: Callable[[App], None] | None = None,
) -> Plugin:
    events = log if log is not None else []

    class _Plugin(Plugin):
        def setup(self, app: App) -> None:
            events.append(f"setup:{name}")

            @app.on_startup
            def started() -> None:
                events.append(f"start:{name}")

            @app.on_shutdown
            def stopped() -> None:
                events.append(f"stop:{name}")

            app.use(_header_middleware(name, events))
            if setup is not None:
                setup(app)

    _Plugin.name = name
    _Plugin.requires = requires
    _Plugin.after = after
    _Plugin.before = before
    return _Plugin()


def _header_middleware(name: str, events: list[str]) -> Any:
    class Tag:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                events.append(f"enter:{name}")
            await self.app(scope, receive, send)

    return Tag


# -- ordering -------------------------------------------------------------------------


def test_topological_order_keeps_user_order_for_ties() -> None:
    assert topological_order(["c", "a", "b"], {}) == ["c", "a", "b"]
    assert topological_order(["c", "a", "b"], {"c": {"b"}}) == ["a", "b", "c"]


def test_cycle_error_shows_its_path() -> None:
    with pytest.raises(CycleError) as info:
        topological_order(["a", "b", "c"], {"a": {"c"}, "b": {"a"}, "c": {"b"}})
    assert info.value.path[0] == info.value.path[-1]
    assert set(info.value.path) == {"a", "b", "c"}


async def test_order_fixes_setup_middleware_and_hooks() -> None:
    log: list[str] = []
    first = make_plugin("first", log=log)
    second = make_plugin("second", requires=("first",), log=log)
    third = make_plugin("third", before=("first",), log=log)
    app = App(plugins=[second, first, third])

    @app.get("/")
    async def index(request: Request) -> dict[str, bool]:
        return {"ok": True}

    assert [p.name for p in app.plugins] == ["third", "first", "second"]
    async with AppClient(app) as client:
        assert (await client.get("/")).json() == {"ok": True}
    setups = [e for e in log if e.startswith("setup")]
    starts = [e for e in log if e.startswith("start")]
    enters = [e for e in log if e.startswith("enter")]
    stops = [e for e in log if e.startswith("stop")]
    assert setups == ["setup:third", "setup:first", "setup:second"]
    assert starts == ["start:third", "start:first", "start:second"]
    assert enters == ["enter:third", "enter:first", "enter:second"]  # earlier = outer
    assert stops == ["stop:second", "stop:first", "stop:third"]  # reversed


def test_after_is_soft_and_ignored_when_absent() -> None:
    plugin = make_plugin("late", after=("not-enabled",))
    assert [p.name for p in App(plugins=[plugin]).plugins] == ["late"]


# -- failures, each with its fix, all reported together -----------------------------------


@needs_first_party
def test_first_party_not_enabled_vs_not_installed(install_dist: Install) -> None:
    with pytest.raises(StartupError) as info:
        App(plugins=["rest", "definitely-missing"])
    problems = info.value.problems
    assert any(
        "`rest` (stellate-rest) requires `orm`" in p and 'add "orm" to plugins' in p
        for p in problems
    )
    assert any("`definitely-missing` is not installed" in p for p in problems)
    assert len(problems) == 2


@needs_first_party
def test_missing_first_party_names_pip_install() -> None:
    needs_ghost = make_plugin("needy", requires=("admin", "ghost"))
    with pytest.raises(StartupError) as info:
        App(plugins=[needs_ghost])
    text = str(info.value)
    assert "requires `admin`, which is installed (stellate-admin) but not enabled" in text
    assert "requires `ghost`, which is not installed" in text


def test_not_installed_first_party_says_pip_install() -> None:
    from stellate.core.plugins import missing_plugin_reason

    assert missing_plugin_reason("admin", {}) == "not installed: pip install stellate-admin"


def test_cycle_is_reported_with_path() -> None:
    a = make_plugin("a", requires=("b",))
    b = make_plugin("b", after=("a",))
    with pytest.raises(StartupError) as info:
        App(plugins=[a, b])
    assert "cycle" in str(info.value)
    assert "`a` -> `b` -> `a`" in str(info.value) or "`b` -> `a` -> `b`" in str(info.value)


def test_duplicate_route_names_both_plugins() -> None:
    def add_ping(app: App) -> None:
        @app.get("/ping")
        async def ping(request: Request) -> str:
            return "pong"

    with pytest.raises(StartupError) as info:
        App(plugins=[make_plugin("one", setup=add_ping), make_plugin("two", setup=add_ping)])
    message = str(info.value)
    assert "Route GET `/ping` is registered by both plugin `one`" in message
    assert "plugin `two`" in message


def test_duplicate_command_and_extension_are_reported_together() -> None:
    def claim(app: App) -> None:
        app.add_command(click.Command("greet"))
        app.add_extension("thing", object())

    with pytest.raises(StartupError) as info:
        App(plugins=[make_plugin("one", setup=claim), make_plugin("two", setup=claim)])
    problems = info.value.problems
    assert len(problems) == 2
    assert any("CLI command `greet`" in p for p in problems)
    assert any("`app.thing` is claimed by" in p for p in problems)


def test_setup_failure_names_plugin() -> None:
    def boom(app: App) -> None:
        raise RuntimeError("no config")

    with pytest.raises(StartupError, match=r"Plugin `bad` .* failed in setup\(\): RuntimeError"):
        App(plugins=[make_plugin("bad", setup=boom)])


def test_import_failure_names_distribution(install_dist: Install) -> None:
    install_dist("broken-plugin", {"broken": "BrokenPlugin"}, "import not_a_real_module_xyz\n")
    with pytest.raises(StartupError) as info:
        App(plugins=["broken"])
    text = str(info.value)
    assert "Plugin `broken` (broken-plugin 1.2.3) failed to import" in text
    assert "ModuleNotFoundError" in text
    assert "reinstall broken-plugin" in text


def test_entry_point_name_must_match(install_dist: Install) -> None:
    install_dist(
        "misnamed-plugin",
        {"alias": "Misnamed"},
        """
        from stellate.core import Plugin
        class Misnamed(Plugin):
            name = "real"
            def setup(self, app): pass
        """,
    )
    with pytest.raises(StartupError, match=r"entry-point name and `Plugin\.name` must match"):
        App(plugins=["alias"])


def test_entry_point_that_is_not_a_plugin(install_dist: Install) -> None:
    install_dist("odd-plugin", {"odd": "thing"}, "thing = 42\n")
    with pytest.raises(StartupError, match=r"not a stellate\.core\.Plugin"):
        App(plugins=["odd"])


def test_plugin_class_instead_of_instance() -> None:
    plugin_class = type(make_plugin("cls"))
    with pytest.raises(StartupError, match=r"pass an instance"):
        App(plugins=[plugin_class])  # type: ignore[list-item]


@needs_first_party
def test_listed_twice() -> None:
    with pytest.raises(StartupError, match="listed twice"):
        App(plugins=["orm", "orm"])


# -- enabling ------------------------------------------------------------------------------


def test_third_party_plugin_enabled_by_name_and_env(
    install_dist: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_dist(
        "greeter-plugin",
        {"greeter": "Greeter"},
        """
        from stellate.core import Plugin
        class Greeter(Plugin):
            name = "greeter"
            def setup(self, app):
                app.add_route("/greet", lambda request: {"hi": True}, methods=["GET"])
        """,
    )
    by_arg = App(plugins=["greeter"])
    assert by_arg.plugins[0].distribution == "greeter-plugin"
    assert by_arg.plugins[0].version == "1.2.3"
    monkeypatch.setenv("STELLATE_PLUGINS", "greeter")
    assert [p.name for p in App().plugins] == ["greeter"]
    monkeypatch.delenv("STELLATE_PLUGINS")
    plain = App()
    assert plain.plugins == []
    assert not any(getattr(r, "path", None) == "/greet" for r in plain.routes)


@needs_first_party
def test_installed_opt_in_logs_names_and_versions(
    install_dist: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install_dist(
        "solo-plugin",
        {"solo": "Solo"},
        """
        from stellate.core import Plugin
        class Solo(Plugin):
            name = "solo"
            def setup(self, app): pass
        """,
    )
    with caplog.at_level(logging.INFO, logger="stellate.plugins"):
        app = App(plugins="installed")
    names = [p.name for p in app.plugins]
    assert "solo" in names
    assert "orm" in names
    assert "solo (solo-plugin 1.2.3)" in caplog.text


# -- plugin settings ---------------------------------------------------------------------


class GreetSettings(msgspec.Struct, frozen=True):
    greeting: str = "hello"
    times: int = 1


class SettingsPlugin(Plugin):
    name: ClassVar[str] = "greet"
    settings = GreetSettings

    def setup(self, app: App) -> None:
        app.add_extension("greeting", self.config.greeting * self.config.times)


def test_plugin_settings_from_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_GREET_TIMES", "2")
    assert App(plugins=[SettingsPlugin()]).greeting == "hellohello"
    app = App(plugins=[SettingsPlugin()], settings={"greet": {"greeting": "hi", "times": 3}})
    assert app.greeting == "hihihi"


def test_all_settings_problems_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_GREET_TIMES", "many")
    monkeypatch.setenv("STELLATE_DEBUG", "maybe")
    with pytest.raises(StartupError) as info:
        App(plugins=[SettingsPlugin()], settings={"nope": {"x": 1}})
    problems = info.value.problems
    assert any(
        p.startswith("Plugin `greet`") and "STELLATE_GREET_TIMES=`many`" in p for p in problems
    )
    assert any("STELLATE_DEBUG=`maybe`" in p and "`true`, `false`" in p for p in problems)
    assert any("settings['nope']" in p for p in problems)
    assert len(problems) == 3
