"""The application: a Starlette app that plugins extend."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute, compile_path
from starlette.staticfiles import StaticFiles

from stellate.core._errors import http_exception_response, server_error_response
from stellate.core.exceptions import ImproperlyConfigured, StartupError
from stellate.core.hosts import AllowedHostsMiddleware
from stellate.core.limits import BodyLimitMiddleware
from stellate.core.plugins import (
    FIRST_PARTY,
    Plugin,
    PluginSpec,
    installed_plugins,
    missing_plugin_reason,
    resolve_plugins,
)
from stellate.core.requests import Request
from stellate.core.responses import JSONResponse
from stellate.core.routing import Handler, HandlerRoute, StaticPathRouter
from stellate.core.settings import CoreSettings, SettingsError, load_settings

if TYPE_CHECKING:
    import click
    from starlette.middleware import _MiddlewareFactory
    from starlette.types import ASGIApp

__all__ = ["App"]

logger = logging.getLogger("stellate")

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[[], Awaitable[None] | None]
LifespanFactory = Callable[["App"], contextlib.AbstractAsyncContextManager[Any]]
HealthCheck = Callable[[], Awaitable[None]]

#: Extensions of first-party plugins, so reading one whose plugin is absent can say which.
_KNOWN_EXTENSIONS = {"db": "orm", "task": "tasks", "cron": "tasks", "tasks": "tasks"}


class App(Starlette):
    """A Stellate application.

    Args:
        plugins: plugin names and/or ``Plugin`` instances to enable, ``"installed"``
            to enable every installed plugin, or ``None`` to read ``STELLATE_PLUGINS``.
        settings: values that win over the environment: core fields at the top level
            (``{"debug": True}``), a plugin's fields under its name
            (``{"orm": {"pool_size": 5}}``).
        routes: Starlette routes to start with.
        middleware: Starlette ``Middleware`` entries, outermost first.
        debug: shortcut for ``settings={"debug": ...}``.

    Raises:
        StartupError: listing every plugin and settings problem found, each with its fix.

    Example:
        ```python
        app = App(plugins=["orm", "rest"])

        @app.get("/items/{item_id:int}")
        async def item(request: Request, item_id: int) -> dict[str, int]:
            return {"id": item_id}
        ```
    """

    def __init__(
        self,
        *,
        plugins: PluginSpec = None,
        settings: Mapping[str, Any] | None = None,
        routes: Sequence[BaseRoute] | None = None,
        middleware: Sequence[Middleware] | None = None,
        debug: bool | None = None,
    ) -> None:
        environ = os.environ
        overrides = dict(settings or {})
        if debug is not None:
            overrides["debug"] = debug
        problems: list[str] = []
        plugin_overrides = {
            key: overrides.pop(key)
            for key in list(overrides)
            if isinstance(overrides[key], Mapping)
        }
        self.plugins: list[Plugin] = resolve_plugins(
            plugins, environ=environ, overrides=plugin_overrides, problems=problems
        )
        enabled = {plugin.name for plugin in self.plugins}
        for section in plugin_overrides:
            if section not in enabled:
                problems.append(
                    f"settings[{section!r}] is given but plugin `{section}` is "
                    + missing_plugin_reason(section, installed_plugins())
                )
        try:
            core = load_settings(CoreSettings, environ=environ, overrides=overrides)
        except SettingsError as exc:
            problems.extend(exc.problems)
            core = CoreSettings()
        problems.extend(_production_problems(core))
        if problems:
            raise StartupError(problems)

        self.settings: CoreSettings = core
        super().__init__(debug=core.debug, routes=routes, middleware=middleware)
        self.router = StaticPathRouter(list(self.router.routes))
        self.router.lifespan_context = self._lifespan
        self.exception_handlers[StarletteHTTPException] = http_exception_response
        self._extensions: dict[str, tuple[str, Any]] = {}
        self._lifespan_steps: list[tuple[str, Any]] = []
        self._commands: dict[str, tuple[str, click.Command]] = {}
        self._health_checks: dict[str, HealthCheck] = {}
        self._route_owners: dict[tuple[str, str], str] = {}
        self._owner = "app"
        self._frozen = False
        self._setup_problems: list[str] = []

        for plugin in self.plugins:
            self._owner = f"plugin `{plugin.name}` ({plugin.distribution})"
            try:
                plugin.setup(self)
            except Exception as exc:
                self._setup_problems.append(
                    f"Plugin `{plugin.name}` ({plugin.distribution}) failed in setup(): "
                    f"{type(exc).__name__}: {exc}"
                )
        self._owner = "app"
        if self._setup_problems:
            raise StartupError(self._setup_problems)
        for route in routes or ():
            self._claim_route(route, "app")

    # -- extensions ---------------------------------------------------------------

    def add_extension(self, name: str, value: Any) -> None:
        """Make ``value`` available as ``app.<name>`` (used by plugins in ``setup()``)."""
        if name in self._extensions:
            self._conflict(
                f"`app.{name}` is claimed by {self._extensions[name][0]} and {self._owner}: "
                "only one plugin may provide it"
            )
            return
        if hasattr(type(self), name):
            raise ImproperlyConfigured(
                f"`{name}` is an App attribute and cannot be an extension: choose another name"
            )
        self._extensions[name] = (self._owner, value)
        self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: extensions live in __dict__, so reading
        # one costs nothing extra; this path explains why one is missing.
        plugin = _KNOWN_EXTENSIONS.get(name)
        if plugin is None or name.startswith("_"):
            raise AttributeError(f"'App' object has no attribute '{name}'")
        raise AttributeError(
            f"`app.{name}` is provided by the `{plugin}` plugin ({FIRST_PARTY[plugin]}), which is "
            + missing_plugin_reason(plugin, installed_plugins())
        )

    # -- routes ---------------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Sequence[str] | None = None,
        *,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[F], F]:
        """Decorator registering ``handler(request, **path_params)`` for ``path``.

        Path parameters use Starlette's converters: ``/items/{item_id:int}``.
        """

        def decorator(handler: F) -> F:
            self.add_route(
                path, handler, methods=methods, name=name, include_in_schema=include_in_schema
            )
            return handler

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a GET (and HEAD) handler."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a POST handler."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a PUT handler."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a PATCH handler."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[F], F]:
        """Register a DELETE handler."""
        return self.route(path, ["DELETE"], **options)

    def add_route(
        self,
        path: str,
        route: Handler,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Register ``route`` (a handler taking ``(request, **path_params)``) for ``path``."""
        self._check_not_frozen("add a route")
        handler_route = HandlerRoute(
            path, route, methods=methods, name=name, include_in_schema=include_in_schema
        )
        if self._claim_route(handler_route, self._owner):
            self.router.routes.append(handler_route)

    def include(self, routes: Iterable[BaseRoute] | Any, prefix: str = "") -> None:
        """Add Starlette routes, or an object with a ``routes`` list, under ``prefix``.

        The routes stay flat (each is copied with ``prefix`` prepended to its path)
        rather than mounted, so a route added later under the same prefix is still
        reachable and duplicates are detected route by route.
        """
        self._check_not_frozen("include routes")
        items = getattr(routes, "routes", routes)
        prefix = prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"Route prefix `{prefix}` must start with `/`")
        for route in items:
            placed = _with_prefix(route, prefix) if prefix else route
            if self._claim_route(placed, self._owner):
                self.router.routes.append(placed)

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve the ASGI ``app`` under ``path``."""
        self._check_not_frozen("mount an app")
        mount = Mount(path, app=app, name=name)
        if self._claim_route(mount, self._owner):
            self.router.routes.append(mount)

    def mount_static(self, path: str, directory: str | os.PathLike[str]) -> None:
        """Serve the files of ``directory`` under ``path``."""
        self.mount(path, StaticFiles(directory=directory), name=f"static:{path}")

    def _claim_route(self, route: BaseRoute, owner: str) -> bool:
        if isinstance(route, Route):
            keys = [(route.path, method) for method in sorted(route.methods or {"*"})]
        elif isinstance(route, Mount):
            keys = [(route.path + "/", "MOUNT")]
        else:
            return True
        for key in keys:
            previous = self._route_owners.get(key)
            if previous is not None:
                method, path = key[1], key[0]
                self._conflict(
                    f"Route {method} `{path}` is registered by both {previous} and {owner}: "
                    "remove one or change its path"
                )
                return False
        for key in keys:
            self._route_owners[key] = owner
        return True

    # -- middleware -----------------------------------------------------------------

    def use(self, middleware: _MiddlewareFactory[P] | Any, *args: Any, **kwargs: Any) -> None:
        """Add middleware; the first added is the outermost.

        ``middleware`` is a pure-ASGI middleware class (called as
        ``cls(app, *args, **kwargs)``) or an object with a ``wrap(app)`` method
        that returns the wrapped ASGI app (``app.use(SessionAuth(...))``).
        """
        self._check_not_frozen("add middleware")
        wrap = getattr(middleware, "wrap", None)
        if not isinstance(middleware, type) and callable(wrap):
            if args or kwargs:
                raise TypeError("app.use(obj) takes no arguments when obj has a wrap() method")
            self.user_middleware.append(Middleware(_Wrapped, wrap))
        else:
            self.user_middleware.append(Middleware(middleware, *args, **kwargs))

    def add_middleware(
        self, middleware_class: _MiddlewareFactory[P], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Starlette's spelling of :meth:`use`."""
        self.use(middleware_class, *args, **kwargs)

    # -- lifespan -------------------------------------------------------------------

    def on_startup(self, hook: Hook) -> Hook:
        """Run ``hook`` (sync or async) at startup; usable as a decorator."""
        self._check_not_frozen("add a startup hook")
        self._lifespan_steps.append(("startup", hook))
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run ``hook`` at shutdown; shutdown hooks run in reverse order of registration."""
        self._check_not_frozen("add a shutdown hook")
        self._lifespan_steps.append(("shutdown", hook))
        return hook

    def add_lifespan(self, factory: LifespanFactory) -> LifespanFactory:
        """Enter ``factory(app)`` (an async context manager) at startup, exit it at shutdown."""
        self._check_not_frozen("add a lifespan")
        self._lifespan_steps.append(("context", factory))
        return factory

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: object) -> AsyncIterator[None]:
        self.freeze()
        # One exit stack for every step: a startup that fails unwinds exactly the steps
        # that already ran, in reverse, and a normal shutdown does the same.
        async with contextlib.AsyncExitStack() as stack:
            for kind, step in self._lifespan_steps:
                if kind == "startup":
                    await _call(step)
                elif kind == "shutdown":
                    stack.push_async_callback(_call, step)
                else:
                    await stack.enter_async_context(step(self))
            yield

    # -- commands and health ----------------------------------------------------------

    def add_command(self, command: click.Command) -> None:
        """Add a ``stellate`` CLI command (a click command) for this app."""
        name = command.name or ""
        if name in self._commands:
            self._conflict(
                f"CLI command `{name}` is registered by both {self._commands[name][0]} and "
                f"{self._owner}: rename one"
            )
            return
        self._commands[name] = (self._owner, command)

    @property
    def commands(self) -> dict[str, click.Command]:
        """The CLI commands plugins and the app registered, by name."""
        return {name: command for name, (_, command) in self._commands.items()}

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """Add ``check`` (an async callable that raises when unhealthy) to the health route."""
        if name in self._health_checks:
            self._conflict(f"Health check `{name}` is registered twice ({self._owner})")
            return
        self._health_checks[name] = check

    def mount_health(self, path: str = "/health", *, timeout: float = 2.0) -> None:
        """Serve ``GET path``: 200 when every health check passes, else 503 naming the failing
        checks and their error types (the messages, which may hold hosts and ports, are logged)."""

        async def health(request: Request) -> JSONResponse:
            results = await asyncio.gather(
                *(_run_check(name, check, timeout) for name, check in self._health_checks.items())
            )
            checks = dict(zip(self._health_checks, results, strict=True))
            healthy = all(result == "ok" for result in results)
            return JSONResponse(
                {"status": "ok" if healthy else "unavailable", "checks": checks},
                status_code=200 if healthy else 503,
            )

        self.add_route(path, health, methods=["GET"], name="health", include_in_schema=False)

    # -- freezing and the middleware stack --------------------------------------------

    def freeze(self) -> None:
        """Stop accepting registrations; done when the app starts."""
        self._frozen = True

    def _check_not_frozen(self, action: str) -> None:
        if self._frozen:
            raise RuntimeError(
                f"Cannot {action} after the app has started: register it at import time "
                "or in a plugin's setup()"
            )

    def _conflict(self, message: str) -> None:
        if self._owner != "app":
            self._setup_problems.append(message)
        else:
            raise ImproperlyConfigured(message)

    def build_middleware_stack(self) -> ASGIApp:
        self.freeze()
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        debug = self.debug

        async def on_server_error(request: Any, exc: Exception) -> Any:
            if error_handler is not None:
                return await _call(error_handler, request, exc)
            return server_error_response(request, exc, debug=debug)

        # ServerErrorMiddleware always gets debug=False: our handler decides what a
        # debug response looks like (JSON for APIs, HTML for browsers).
        limits = self.settings
        stack = [
            Middleware(ServerErrorMiddleware, handler=on_server_error, debug=False),
            Middleware(
                BodyLimitMiddleware, max_size=limits.max_body_size, timeout=limits.body_timeout
            ),
            *self.user_middleware,
            Middleware(ExceptionMiddleware, handlers=handlers, debug=debug),
        ]
        if limits.allowed_hosts:
            # Outermost but for the error handler: a request for a foreign host is
            # refused before any plugin (session, database) spends work on it.
            stack.insert(1, Middleware(AllowedHostsMiddleware, allowed_hosts=limits.allowed_hosts))
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(stack):
            app = cls(app, *args, **kwargs)
        return app


class _Wrapped:
    """Adapts an object's ``wrap(app)`` method to Starlette's middleware factory shape."""

    def __new__(cls, app: ASGIApp, wrap: Callable[[ASGIApp], ASGIApp]) -> Any:
        return wrap(app)


def _with_prefix(route: BaseRoute, prefix: str) -> BaseRoute:
    # Starlette compiles a route's path once, in its constructor; a copy with the
    # prefixed path recompiled keeps every other attribute (a HandlerRoute's adapter
    # included) without knowing how each route class was built.
    if not isinstance(route, Route | WebSocketRoute | Mount):
        raise TypeError(
            f"Cannot prefix a `{type(route).__name__}`: include Route, WebSocketRoute or Mount"
        )
    placed = copy.copy(route)
    placed.path = prefix + route.path
    pattern = placed.path + "/{path:path}" if isinstance(route, Mount) else placed.path
    placed.path_regex, placed.path_format, placed.param_convertors = compile_path(pattern)
    return placed


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _run_check(name: str, check: HealthCheck, seconds: float) -> str:
    # The route is public: the answer names the failing check and the error's type, never
    # its message (drivers put hosts, ports and database names there); the log has it all.
    try:
        async with asyncio.timeout(seconds):
            await check()
    except TimeoutError:
        logger.warning("Health check `%s`: no answer within %gs", name, seconds)
        return f"error: no answer within {seconds:g}s"
    except Exception as exc:
        logger.warning("Health check `%s` failed: %s: %s", name, type(exc).__name__, exc)
        return f"error: {type(exc).__name__}"
    return "ok"


def _production_problems(settings: CoreSettings) -> list[str]:
    if not settings.is_production:
        return []
    problems = []
    if not settings.secret_key:
        problems.append(
            "STELLATE_SECRET_KEY is not set: production needs a secret key; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
    if settings.debug:
        problems.append(
            "STELLATE_DEBUG is on in production: it leaks tracebacks; set STELLATE_DEBUG=false"
        )
    return problems
