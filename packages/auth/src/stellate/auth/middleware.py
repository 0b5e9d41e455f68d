"""One pure-ASGI layer for everything auth does per request.

Session cookies, CSRF, API keys and the security headers used to be four nested
middlewares, each with its own call and ``send`` wrapper on every request; here they
are one call and at most one ``send`` wrapper. The behaviour is theirs:

1. security headers: a CSP nonce for the request, headers added to the response;
2. an API key (``X-API-Key`` or ``Authorization: Bearer <prefix>...``) authenticates
   the request by itself; a bad one is 401, with no fallback to the cookie;
3. otherwise the session cookie sets ``request.user`` (see
   :mod:`stellate.auth.sessions`), and unsafe cookie-authenticated requests pass the
   CSRF check (see :mod:`stellate.auth.csrf`) or get 403;
4. the response carries the session's new or cleared cookies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stellate.auth.apikeys import API_KEY_SCOPE_KEY, invalid_key_response, presented_key
from stellate.auth.csrf import ENGINE_SCOPE_KEY, SAFE_METHODS, SESSION_SCOPE_KEY
from stellate.auth.sessions import STATE_SCOPE_KEY, SessionState
from stellate.core.exceptions import HTTPException
from stellate.core.responses import JSONResponse

if TYPE_CHECKING:
    from stellate.auth.apikeys import APIKeyStore
    from stellate.auth.headers import SecurityHeaders
    from stellate.auth.sessions import SessionAuth

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    """Sessions with CSRF, API keys and security headers as one ASGI middleware.

    ``app.use(session_auth)`` and ``app.use(APIKeyAuth(store))`` install it with one
    part each; the ``auth`` plugin installs it once with all of them.

    Args:
        app: the ASGI app.
        sessions: cookie sessions (with their CSRF check when ``sessions.csrf``).
        api_keys: API-key authentication.
        security_headers: the headers every response gets.
    """

    __slots__ = ("api_keys", "app", "csrf", "headers", "sessions")

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: SessionAuth | None = None,
        api_keys: APIKeyStore | None = None,
        security_headers: SecurityHeaders | None = None,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.csrf = None if sessions is None else sessions.csrf_check
        self.api_keys = api_keys
        self.headers = security_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.headers
        nonce = "" if headers is None else headers.start(scope)
        state: SessionState | None = None
        sessions = self.sessions
        store = self.api_keys
        raw_key = None if store is None else presented_key(scope["headers"], store.prefix)
        if raw_key is not None and store is not None:
            found = await store.verify(raw_key)
            if found is None:
                if headers is not None:
                    send = _with_headers(send, headers, nonce)
                await invalid_key_response()(scope, receive, send)
                return
            # A handler may still log in or out: give it an (empty) session state.
            state = SessionState(None)
            scope[STATE_SCOPE_KEY] = state
            scope["user"] = found[1]
            scope[API_KEY_SCOPE_KEY] = found[0]
        elif sessions is not None:
            try:
                await sessions.authenticate(scope)
            except HTTPException as exc:  # the session store is down (503): say so
                if headers is not None:
                    send = _with_headers(send, headers, nonce)
                response = JSONResponse(
                    {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
                )
                await response(scope, receive, send)
                return
            state = scope[STATE_SCOPE_KEY]
        if state is not None and sessions is not None:
            send = _with_cookies(send, sessions, state, headers, nonce)
        elif headers is not None:
            send = _with_headers(send, headers, nonce)
        csrf = self.csrf
        if csrf is not None:
            scope[ENGINE_SCOPE_KEY] = csrf.engine
            session_id = scope.get(SESSION_SCOPE_KEY)
            if session_id is not None and scope["method"] not in SAFE_METHODS:
                reason, receive = await csrf.check(scope, session_id, receive)
                if reason is not None:
                    await csrf.reject(scope, receive, send, reason)
                    return
        await self.app(scope, receive, send)


def _with_headers(send: Send, headers: SecurityHeaders, nonce: str) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers.add_to(message, nonce)
        await send(message)

    return send_with_headers


def _with_cookies(
    send: Send,
    sessions: SessionAuth,
    state: SessionState,
    headers: SecurityHeaders | None,
    nonce: str,
) -> Send:
    async def send_with_cookies(message: Message) -> None:
        if message["type"] == "http.response.start":
            if headers is not None:
                headers.add_to(message, nonce)
            values = sessions.cookie_headers(state)
            if values:
                mutable = MutableHeaders(scope=message)
                for value in values:
                    mutable.append("set-cookie", value)
                mutable.append("cache-control", "no-store")
        await send(message)

    return send_with_cookies
