"""Routes whose handlers take ``(request, **path_params)`` and may return plain data."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from stellate.core.requests import Request
from stellate.core.responses import to_response

__all__ = ["Handler", "HandlerRoute", "StaticPathRouter"]

Handler = Callable[..., Any]


def _handler_app(handler: Handler) -> Callable[[Scope, Receive, Send], Any]:
    # This closure is the whole per-request cost a handler adds on top of Starlette's
    # router. Exceptions propagate to the ExceptionMiddleware, which renders them.
    if inspect.iscoroutinefunction(handler):

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            try:
                result = await handler(request, **scope["path_params"])
                await to_response(result)(scope, receive, send)
            finally:
                if request._form is not None:  # uploaded files spool to temp files
                    await request.close()

    else:

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            call = functools.partial(handler, request, **scope["path_params"])
            try:
                result = await run_in_threadpool(call)
                await to_response(result)(scope, receive, send)
            finally:
                if request._form is not None:
                    await request.close()

    return app


class HandlerRoute(Route):
    """A route that calls ``handler(request, **path_params)`` and converts its result.

    Synchronous handlers run in a thread so they never block the event loop.
    """

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"Route `{path}` needs a callable handler, got {handler!r}")
        super().__init__(
            path,
            handler,
            methods=list(methods) if methods is not None else None,
            name=name,
            include_in_schema=include_in_schema,
        )
        self.app = _handler_app(handler)


class StaticPathRouter(Router):
    """Starlette's router with a dict lookup for paths without parameters.

    Starlette tries every route in order, so an app's own ``GET /`` behind the
    plugins' routes paid one regex match per route before it. This router keeps,
    for each parameterless path, the first route registered for it, provided no
    earlier route could match that path as well (checked with the earlier routes'
    own patterns); a request for such a path tries that route first. Anything else
    (a path with parameters, a method the route does not allow, a redirect to the
    slashed path, websockets) goes through Starlette's loop unchanged, so which
    route answers is exactly what Starlette would pick.
    """

    _static: dict[str, BaseRoute]
    _static_key: tuple[int, object] = (-1, None)

    def _static_routes(self) -> dict[str, BaseRoute]:
        routes = self.routes
        key = (len(routes), routes[-1] if routes else None)
        if key != self._static_key:
            static: dict[str, BaseRoute] = {}
            earlier: list[Any] = []
            for route in routes:
                pattern = getattr(route, "path_regex", None)
                if pattern is None:
                    break  # a route we cannot reason about: index nothing after it
                path = getattr(route, "path", "")
                if (
                    isinstance(route, Route)
                    and not route.param_convertors
                    and path not in static
                    and not any(other.match(path) for other in earlier)
                ):
                    static[path] = route
                earlier.append(pattern)
            self._static, self._static_key = static, key
        return self._static

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self._static_routes().get(get_route_path(scope))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
