"""Routes whose handlers take ``(request, **path_params)`` and may return plain data."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from stellate.core.requests import Request
from stellate.core.responses import to_response

__all__ = ["Handler", "HandlerRoute"]

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
