"""Test tools: an HTTP client that runs the app's lifespan, and the plugin contract.

Needs the ``testing`` extra: ``pip install "stellate-core[testing]"``.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, ClassVar

import httpx
import pytest
from starlette.types import ASGIApp

from stellate.core.app import App
from stellate.core.plugins import Plugin, installed_plugins

__all__ = ["AppClient", "PluginContract"]


class AppClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` bound to an ASGI app that runs its startup and shutdown.

    httpx's ASGI transport sends no lifespan events, so entering this client runs the
    app's startup hooks and leaving it runs the shutdown hooks. With
    ``raise_app_exceptions=False`` an unhandled error comes back as the app's 500
    response instead of being raised in the test.

    Example:
        ```python
        async with AppClient(app) as client:
            response = await client.get("/health")
        ```
    """

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_app_exceptions: bool = True,
        **kwargs: Any,
    ) -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        super().__init__(transport=transport, base_url=base_url, **kwargs)
        self.app = app
        self._lifespan = contextlib.AsyncExitStack()

    async def __aenter__(self) -> AppClient:
        router = getattr(self.app, "router", None)
        lifespan = getattr(router, "lifespan_context", None)
        if lifespan is not None:
            await self._lifespan.enter_async_context(lifespan(self.app))
        await super().__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._lifespan.aclose()


class PluginContract:
    """Checks that a plugin follows the plugin protocol; subclass it in your tests.

    Set ``plugin_class`` (and ``requires`` when your plugin needs others enabled)::

        class TestHelloPlugin(PluginContract):
            plugin_class = HelloPlugin
    """

    plugin_class: ClassVar[type[Plugin]]
    #: Other plugins the app needs for this one to load.
    requires: ClassVar[tuple[str | Plugin, ...]] = ()
    #: Settings given to every app the contract builds.
    settings: ClassVar[dict[str, Any]] = {}

    def make_app(self, *, enabled: bool = True) -> App:
        plugins = [*self.requires, self.plugin_class()] if enabled else [*self.requires]
        return App(plugins=plugins, settings=self.settings)

    def test_has_a_name(self) -> None:
        name = getattr(self.plugin_class, "name", None)
        assert isinstance(name, str), f"{self.plugin_class.__qualname__} must set `name`"
        assert name, "a plugin name is a non-empty word"
        assert name == name.strip(), "a plugin name has no surrounding spaces"

    def test_entry_point_loads_this_plugin(self) -> None:
        name = self.plugin_class.name
        found = installed_plugins().get(name)
        assert found is not None, (
            f'no entry point `{name}` in group "stellate.plugins": add it to your pyproject.toml '
            "and reinstall the distribution"
        )
        loaded = found.entry_point.load()
        assert loaded is self.plugin_class or isinstance(loaded, self.plugin_class)

    def test_enabled_by_name(self) -> None:
        app = App(plugins=[*self.requires, self.plugin_class.name], settings=self.settings)
        assert [p.name for p in app.plugins][-1] == self.plugin_class.name

    def test_requires_are_declared(self) -> None:
        for needed in self.plugin_class.requires:
            assert isinstance(needed, str), "requires lists plugin names"

    def test_each_app_gets_its_own_registrations(self) -> None:
        first, second = self.make_app(), self.make_app()
        assert len(first.routes) == len(second.routes)
        assert first.routes is not second.routes
        assert first.user_middleware is not second.user_middleware
        assert len(first.user_middleware) == len(second.user_middleware)

    def test_declared_extensions_exist(self) -> None:
        app = self.make_app()
        for name in self.plugin_class.extensions:
            assert name in app.__dict__, f"plugin declares extension `{name}` but did not add it"

    def test_not_enabled_changes_nothing(self) -> None:
        without = self.make_app(enabled=False)
        with_plugin = self.make_app()
        assert len(with_plugin.routes) >= len(without.routes)
        for name in self.plugin_class.extensions:
            assert name not in without.__dict__

    @pytest.mark.asyncio
    async def test_lifespan_starts_and_stops(self) -> None:
        async with AppClient(self.make_app()):
            pass
