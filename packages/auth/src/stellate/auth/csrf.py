"""CSRF protection for cookie-authenticated requests (pure ASGI).

A browser attaches the session cookie to every request to our origin, including
those a foreign page triggers; the CSRF token is what such a page cannot know.
Tokens are synchronizer tokens signed with a :class:`~stellate.core.signing.TokenEngine`
(purpose ``"csrf"``) and bound to the session they were issued for: a token carries
a hash of the session id, so a token from one session (the attacker's own, say)
is refused in another. Every call to :func:`csrf_token` gives a fresh token (random
nonce), which keeps the page bytes unpredictable (BREACH).

What is checked, for unsafe methods (anything but GET, HEAD, OPTIONS, TRACE) of
requests the session middleware authenticated by cookie:

1. ``Origin`` (or, without it, ``Referer``) when present must be this site or a
   trusted origin;
2. a token must come in the ``X-CSRF-Token`` header or the ``csrf_token`` form field,
   verify, and be bound to the current session (compared in constant time).

Requests that authenticate with ``Authorization`` or ``X-API-Key`` are not checked:
a foreign page cannot make a browser send those headers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from html import escape
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stellate.core.responses import JSONResponse
from stellate.core.signing import TokenEngine

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSRFCheck",
    "CSRFMiddleware",
    "csrf_input",
    "csrf_token",
]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Scope keys shared by the session middleware and this one.
SESSION_SCOPE_KEY = "stellate.auth.session_id"
ENGINE_SCOPE_KEY = "stellate.auth.csrf_engine"

#: How long a CSRF token stays valid; a session lives longer, so pages older than
#: this must fetch a new token (GET /auth/csrf), which bounds the reuse of a leaked one.
TOKEN_TTL = 12 * 3600

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

ViolationHook = Callable[[Scope, str], Awaitable[None]]


def session_binding(session_id: str) -> str:
    """The value a CSRF token carries for ``session_id`` (a hash: pages never show the id)."""
    return hashlib.sha256(f"csrf:{session_id}".encode()).hexdigest()[:32]


def issue_token(engine: TokenEngine, session_id: str) -> str:
    """A new CSRF token for ``session_id``."""
    return engine.encode_data(
        {"s": session_binding(session_id), "n": secrets.token_urlsafe(6)}, ttl=TOKEN_TTL
    )


def token_matches(engine: TokenEngine, token: str, session_id: str) -> bool:
    """Whether ``token`` verifies and was issued for ``session_id`` (constant-time compare)."""
    data = engine.decode_data(token)
    if not isinstance(data, dict) or not isinstance(data.get("s"), str):
        return False
    return hmac.compare_digest(data["s"].encode(), session_binding(session_id).encode())


def csrf_token(request: HTTPConnection) -> str:
    """A CSRF token for the current session, to send back with unsafe requests.

    Raises:
        RuntimeError: when no session middleware with CSRF protection runs, or the
            request has no session (log in first; anonymous requests need no token).
    """
    engine = request.scope.get(ENGINE_SCOPE_KEY)
    if engine is None:
        raise RuntimeError(
            "csrf_token() needs CSRF protection: add `app.use(SessionAuth(...))` "
            "(csrf=True is its default)"
        )
    session_id = request.scope.get(SESSION_SCOPE_KEY)
    if session_id is None:
        raise RuntimeError(
            "csrf_token() needs a logged-in session: anonymous requests are not "
            "cookie-authenticated and need no CSRF token"
        )
    return issue_token(engine, session_id)


def csrf_input(request: HTTPConnection) -> str:
    """A hidden ``<input>`` carrying a CSRF token, for HTML forms (template helper)."""
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token(request))}">'


class CSRFCheck:
    """The CSRF check of unsafe cookie-authenticated requests (no ASGI layer of its own).

    :class:`CSRFMiddleware` and the auth plugin's single middleware run it.

    Args:
        token_engine: signs and verifies tokens (its purpose is set to ``"csrf"``).
        trusted_origins: other origins allowed to post (``"https://admin.example.com"``).
        max_body_size: largest form body read to find the ``csrf_token`` field;
            bigger forms must send the header.
        on_violation: awaited with ``(scope, reason)`` before the 403 (security log).
    """

    __slots__ = ("engine", "max_body_size", "on_violation", "trusted_origins")

    def __init__(
        self,
        *,
        token_engine: TokenEngine,
        trusted_origins: Iterable[str] = (),
        max_body_size: int = 2 * 1024 * 1024,
        on_violation: ViolationHook | None = None,
    ) -> None:
        self.engine = token_engine.with_purpose("csrf")
        self.trusted_origins = frozenset(origin.rstrip("/").lower() for origin in trusted_origins)
        self.max_body_size = max_body_size
        self.on_violation = on_violation

    async def check(
        self, scope: Scope, session_id: str, receive: Receive
    ) -> tuple[str | None, Receive]:
        """Check an unsafe request of session ``session_id``.

        Returns:
            ``(reason, receive)``: why it is refused (``None``: allowed), and the
            ``receive`` the app must use (the form body may have been read).
        """
        headers = Headers(scope=scope)
        if "authorization" in headers or "x-api-key" in headers:
            return None, receive
        reason = self._origin_problem(scope, headers)
        if reason is None:
            token = headers.get(CSRF_HEADER.lower())
            if token is None:
                token, receive = await self._form_token(scope, headers, receive)
            if not token:
                reason = "missing"
            elif not token_matches(self.engine, token, session_id):
                reason = "invalid"
        return reason, receive

    def _origin_problem(self, scope: Scope, headers: Headers) -> str | None:
        origin = headers.get("origin")
        if origin is None:
            referer = headers.get("referer")
            if not referer:
                return None
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        origin = origin.rstrip("/").lower()
        host = headers.get("host", "")
        own = f"{scope.get('scheme', 'http')}://{host}".lower()
        if origin == own or origin in self.trusted_origins:
            return None
        return "origin"

    async def _form_token(
        self, scope: Scope, headers: Headers, receive: Receive
    ) -> tuple[str | None, Receive]:
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in _FORM_TYPES:
            return None, receive
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            return None, receive
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                return None, _replay(b"".join(chunks) + chunk, receive, more=True)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        # The form is parsed from a copy; the app then reads the same bytes again.
        form_request = Request(scope, _replay(body, receive, more=False))
        try:
            form = await form_request.form()
            value = form.get(CSRF_FIELD)
            await form.close()
        except Exception:
            value = None
        return (value if isinstance(value, str) else None), _replay(body, receive, more=False)

    async def reject(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        """Log the violation and answer 403 with what to do."""
        if self.on_violation is not None:
            await self.on_violation(scope, reason)
        await JSONResponse(_REASONS[reason], status_code=403)(scope, receive, send)


class CSRFMiddleware:
    """Rejects unsafe cookie-authenticated requests without a valid CSRF token (403).

    ``SessionAuth`` runs the same check inside its own middleware (``csrf=True``);
    this standalone layer is for a session middleware of your own, which must run
    outside it and tell it the session id through the scope. Arguments as
    :class:`CSRFCheck`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token_engine: TokenEngine,
        trusted_origins: Iterable[str] = (),
        max_body_size: int = 2 * 1024 * 1024,
        on_violation: ViolationHook | None = None,
    ) -> None:
        self.app = app
        self.check = CSRFCheck(
            token_engine=token_engine,
            trusted_origins=trusted_origins,
            max_body_size=max_body_size,
            on_violation=on_violation,
        )
        self.engine = self.check.engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[ENGINE_SCOPE_KEY] = self.engine
        session_id = scope.get(SESSION_SCOPE_KEY)
        if session_id is None or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        reason, receive = await self.check.check(scope, session_id, receive)
        if reason is not None:
            await self.check.reject(scope, receive, send, reason)
            return
        await self.app(scope, receive, send)


_HOW = (
    f"send the token from `GET /auth/csrf` (or the `csrftoken` cookie) in the `{CSRF_HEADER}` "
    f"header, or as the `{CSRF_FIELD}` form field"
)
_REASONS: dict[str, dict[str, Any]] = {
    "missing": {
        "detail": f"CSRF token missing: {_HOW}",
        "code": "csrf_missing",
    },
    "invalid": {
        "detail": (
            f"CSRF token invalid, expired or issued for another session: fetch a new one and {_HOW}"
        ),
        "code": "csrf_invalid",
    },
    "origin": {
        "detail": (
            "CSRF check failed: the request's Origin is not this site. Cross-site requests "
            "with the session cookie are refused; add the origin to `trusted_origins` if "
            "it is yours"
        ),
        "code": "csrf_origin",
    },
}


def _replay(body: bytes, receive: Receive, *, more: bool) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
