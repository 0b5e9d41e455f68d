"""Security headers (pure ASGI) and a CORS allowlist.

``SecurityHeadersMiddleware`` adds, to every HTTP response that does not set them
itself: a Content-Security-Policy with a fresh nonce per request (``csp_nonce(request)``
gives it to templates for inline ``<script nonce=...>``), ``X-Content-Type-Options:
nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy`` and, when ``hsts`` is on
(production), ``Strict-Transport-Security``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_CSP",
    "SecurityHeaders",
    "SecurityHeadersMiddleware",
    "cors_middleware",
    "csp_nonce",
]

NONCE_SCOPE_KEY = "stellate.auth.csp_nonce"

#: Same-origin everything, scripts and styles only from this origin or with the
#: request's nonce, no plugins, no framing, forms only to this origin.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def csp_nonce(request: HTTPConnection) -> str:
    """The CSP nonce of this request, for ``<script nonce="...">`` in templates.

    Raises:
        RuntimeError: when ``SecurityHeadersMiddleware`` does not run.
    """
    nonce = request.scope.get(NONCE_SCOPE_KEY)
    if nonce is None:
        raise RuntimeError(
            "csp_nonce() needs SecurityHeadersMiddleware: enable the `auth` plugin or "
            "`app.use(SecurityHeadersMiddleware)`"
        )
    return str(nonce)


class SecurityHeaders:
    """The security headers of one app, encoded once; see the module documentation.

    Args:
        content_security_policy: the policy; ``{nonce}`` is replaced by the request's
            nonce; ``None`` sends none.
        hsts: send ``Strict-Transport-Security`` (only over HTTPS: turn it on in
            production, where TLS ends before the app or at it).
        hsts_max_age: its ``max-age`` in seconds (one year by default).
        frame_options: ``X-Frame-Options`` (``None`` to omit).
        referrer_policy: ``Referrer-Policy`` (``None`` to omit).
    """

    __slots__ = ("csp_parts", "fixed", "hsts", "uses_nonce")

    def __init__(
        self,
        *,
        content_security_policy: str | None = DEFAULT_CSP,
        hsts: bool = False,
        hsts_max_age: int = 31_536_000,
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
    ) -> None:
        self.hsts = hsts
        self.uses_nonce = bool(content_security_policy and "{nonce}" in content_security_policy)
        fixed = [("x-content-type-options", "nosniff")]
        if frame_options:
            fixed.append(("x-frame-options", frame_options))
        if referrer_policy:
            fixed.append(("referrer-policy", referrer_policy))
        if hsts:
            fixed.append(
                ("strict-transport-security", f"max-age={hsts_max_age}; includeSubDomains")
            )
        # Encoded once: every response only appends these ready-made pairs.
        self.fixed = [(name.encode(), value.encode()) for name, value in fixed]
        self.csp_parts = (
            None if content_security_policy is None else content_security_policy.split("{nonce}")
        )

    def start(self, scope: Scope) -> str:
        """Give the request its nonce (kept in the scope for :func:`csp_nonce`)."""
        nonce = secrets.token_urlsafe(16) if self.uses_nonce else ""
        scope[NONCE_SCOPE_KEY] = nonce
        return nonce

    def add_to(self, message: Message, nonce: str) -> None:
        """Add the headers the ``http.response.start`` ``message`` does not set itself."""
        raw = message.setdefault("headers", [])
        if not isinstance(raw, list):
            raw = message["headers"] = list(raw)
        present = {name.lower() for name, _ in raw}
        raw.extend(pair for pair in self.fixed if pair[0] not in present)
        csp_parts = self.csp_parts
        if csp_parts is not None and b"content-security-policy" not in present:
            raw.append((b"content-security-policy", nonce.join(csp_parts).encode()))


class SecurityHeadersMiddleware:
    """Adds security headers to responses (see the module documentation).

    The ``auth`` plugin adds the same headers from its single
    :class:`~stellate.auth.middleware.AuthMiddleware`; this one is for apps that
    want the headers alone. Arguments as :class:`SecurityHeaders`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        content_security_policy: str | None = DEFAULT_CSP,
        hsts: bool = False,
        hsts_max_age: int = 31_536_000,
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
    ) -> None:
        self.app = app
        self.headers = SecurityHeaders(
            content_security_policy=content_security_policy,
            hsts=hsts,
            hsts_max_age=hsts_max_age,
            frame_options=frame_options,
            referrer_policy=referrer_policy,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.headers
        nonce = headers.start(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers.add_to(message, nonce)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_middleware(origins: Iterable[str]) -> tuple[type[CORSMiddleware], dict[str, object]]:
    """Starlette's ``CORSMiddleware`` and its arguments for an explicit origin allowlist.

    Credentials (the session cookie) are allowed, so a wildcard is refused: any site
    could then read responses made with the user's cookie.

    Raises:
        ValueError: for ``*`` or an origin that is not ``scheme://host[:port]``.
    """
    allowed = []
    for origin in origins:
        if origin == "*" or "*" in origin:
            raise ValueError(
                "CORS origins cannot contain `*` when cookies are sent: list each origin, "
                "e.g. `https://app.example.com`"
            )
        if "://" not in origin or origin.rstrip("/") != origin or origin.count("/") != 2:
            raise ValueError(
                f"CORS origin `{origin}` must be `scheme://host[:port]` without a path, "
                "e.g. `https://app.example.com`"
            )
        allowed.append(origin)
    return CORSMiddleware, {
        "allow_origins": allowed,
        "allow_credentials": True,
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": ["Authorization", "Content-Type", "X-API-Key", "X-CSRF-Token"],
        "max_age": 600,
    }
