"""How errors are rendered: JSON for APIs, a readable page for browsers in debug mode."""

from __future__ import annotations

import html
import traceback
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import HTMLResponse
from starlette.responses import Response as StarletteResponse

from stellate.core.responses import JSONResponse

_NO_BODY = {204, 304}


async def http_exception_response(request: StarletteRequest, exc: Exception) -> StarletteResponse:
    """Render an ``HTTPException`` as ``{"detail": ...}`` with its status and headers."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in _NO_BODY:
        return StarletteResponse(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _wants_html(request: StarletteRequest) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def server_error_response(request: StarletteRequest, exc: Exception, *, debug: bool) -> Any:
    """The 500 response for an unhandled exception; tracebacks only in debug mode."""
    if not debug:
        return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    if _wants_html(request):
        title = html.escape(f"{type(exc).__name__}: {exc}")
        body = html.escape("".join(frames))
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Server error</title>"
            "<style>body{font:14px system-ui;margin:2rem}pre{background:#f4f4f4;padding:1rem;"
            "overflow:auto}@media(prefers-color-scheme:dark){body{background:#111;color:#eee}"
            "pre{background:#222}}</style></head><body>"
            f"<h1>500 Server error</h1><h2>{title}</h2>"
            f"<p>{html.escape(request.method)} {html.escape(str(request.url.path))}</p>"
            f"<pre>{body}</pre><p>This page is shown because STELLATE_DEBUG is on; "
            "production shows no traceback.</p></body></html>"
        )
        return HTMLResponse(page, status_code=500)
    return JSONResponse(
        {
            "detail": "Internal Server Error",
            "exception": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(frames).splitlines(),
        },
        status_code=500,
    )
