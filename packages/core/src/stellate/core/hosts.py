"""``AllowedHostsMiddleware``: refuse requests whose ``Host`` the app does not serve.

Enabled by ``STELLATE_ALLOWED_HOSTS`` (``example.com,*.example.com``). A request for
another host gets ``400`` with a JSON body before any plugin runs, which stops
Host-header attacks on absolute URLs the app builds (password-reset links, redirects).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AllowedHostsMiddleware", "host_allowed"]

_REFUSED = msgspec.json.encode(
    {"detail": "Invalid Host header: this server does not serve that host name"}
)


def host_allowed(host: str, exact: frozenset[str], suffixes: tuple[str, ...]) -> bool:
    """Whether ``host`` (port already removed, lower case) matches the allowed names."""
    return host in exact or any(host.endswith(suffix) for suffix in suffixes)


class AllowedHostsMiddleware:
    """Pure ASGI: answer 400 (HTTP) or close (WebSocket) for a ``Host`` not listed.

    Args:
        app: the wrapped application.
        allowed_hosts: exact names (``example.com``), ``*.example.com`` for every
            subdomain (not the bare domain), or ``*`` for any host.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        names = [name.strip().lower() for name in allowed_hosts if name.strip()]
        if not names:
            raise ValueError(
                "AllowedHostsMiddleware needs at least one host name: set "
                "STELLATE_ALLOWED_HOSTS=example.com (or leave it empty for no check)"
            )
        self.any_host = "*" in names
        self.exact = frozenset(name for name in names if not name.startswith("*."))
        self.suffixes = tuple(name[1:] for name in names if name.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any_host or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1").lower()
                break
        # Strip the port; an IPv6 literal keeps its brackets ("[::1]:8000" -> "[::1]").
        name = host.rsplit(":", 1)[0] if host.rfind(":") > host.rfind("]") else host
        if host_allowed(name, self.exact, self.suffixes):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_REFUSED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _REFUSED})
