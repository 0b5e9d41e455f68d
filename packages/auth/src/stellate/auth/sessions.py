"""Session authentication: signed cookies backed by revocable server-side records.

How a request is authenticated (``SessionAuth`` as pure ASGI middleware):

1. The session cookie is verified with the :class:`~stellate.core.signing.TokenEngine`
   (HMAC, purpose ``"session"``). A forged, tampered, wrongly-keyed or expired cookie
   is dropped here, before any database query, and the response deletes it.
2. The cookie's signed timestamps enforce the absolute lifetime (``absolute_timeout``,
   from login) and the idle timeout (``idle_timeout``, since the last request).
3. The cookie also carries the principal (id, username, is_staff, is_superuser,
   groups), so ``request.user`` needs no query. The server-side record (an UNLOGGED
   PostgreSQL table) is consulted, by primary key, when the cookie's last check is older
   than ``recheck_interval`` seconds and on every unsafe request (POST, PUT, PATCH,
   DELETE): that query refreshes the principal, slides the idle expiry and refuses
   sessions that were logged out. Reads between two checks trust the signed cookie,
   which is what keeps an authenticated GET as cheap as an anonymous one; writes
   always see revocations at once. ``recheck_interval=0`` checks every request.
4. The worker that handles a logout also remembers the revoked session until it would
   have expired, so on that worker even reads see the revocation at once.

Login creates a new session id whatever the request carried (no fixation), logout
deletes the record, and ``logout_everywhere`` deletes all records of a user.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import ASGIApp, Scope

from stellate.auth._db import SQLDatabase, resolve_database
from stellate.auth._revocations import CHANNEL, RevocationFeed, session_message, user_message
from stellate.auth.csrf import SESSION_SCOPE_KEY, CSRFCheck, issue_token
from stellate.auth.principal import Principal
from stellate.auth.security import SecurityEvent, SecurityLog, client_ip
from stellate.core.settings import CoreSettings, load_settings
from stellate.core.signing import SigningKey, TokenEngine

__all__ = ["SessionAuth", "SessionState"]

STATE_SCOPE_KEY = "stellate.auth.state"
_VERIFIED_CACHE_SIZE = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class _Payload(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """What the session cookie carries (signed, not encrypted: no secrets in it)."""

    sid: str  # the session id; the database stores only its hash
    user: dict[str, Any]  # the principal
    started: float  # login time: absolute expiry
    seen: float  # last request that refreshed the cookie: idle expiry
    checked: float  # last time the server-side record confirmed the session


class SessionState:
    """The session of one request, kept in the ASGI scope by the middleware."""

    __slots__ = ("clear_cookie", "new_cookie", "payload", "set_csrf")

    def __init__(self, payload: _Payload | None) -> None:
        self.payload = payload
        self.new_cookie: str | None = None
        self.clear_cookie = False
        self.set_csrf: str | None = None

    @property
    def session_id(self) -> str | None:
        return None if self.payload is None else self.payload.sid


def _hash_sid(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionAuth:
    """Cookie sessions for ``app.use(auth)``.

    Args:
        secret: the key of the session engine when ``token_engine`` is not given
            (``SigningKey(secret, version=1)``).
        token_engine: signs the cookies (its purpose is set to ``"session"``); to rotate
            keys, prepend the new ``SigningKey`` and drop the old one after
            ``absolute_timeout``.
        cookie_name: the session cookie.
        idle_timeout: seconds without a request after which the session ends.
        absolute_timeout: seconds after login after which the session ends regardless.
        recheck_interval: seconds a read may trust the signed cookie before the
            server-side record is checked again (see the module documentation).
        refresh_interval: how often (seconds) a request re-issues the cookie to slide the
            idle timeout; idle expiry is exact to within this.
        secure: the ``Secure`` cookie flag; ``None`` sets it when ``STELLATE_ENV=production``.
        same_site: the ``SameSite`` cookie attribute.
        csrf: install :class:`~stellate.auth.csrf.CSRFMiddleware` inside this one.
        trusted_origins: other origins allowed to send unsafe requests (CSRF).
        database: a ``stellate.orm.Database`` or its alias.
        table: the UNLOGGED table of session records.
        security_log: where login, logout, CSRF and fixation events go.
        clock: seconds since the epoch (tests pass a controllable one).

    Example:
        ```python
        engine = TokenEngine(keys=[SigningKey(secret=os.environ["SESSION_KEY"], version=1)])
        auth = SessionAuth(secret=os.environ["SESSION_SECRET"], token_engine=engine)
        app.use(auth)
        ```
    """

    def __init__(
        self,
        secret: str | None = None,
        token_engine: TokenEngine | None = None,
        *,
        cookie_name: str = "stellate_session",
        csrf_cookie_name: str = "csrftoken",
        idle_timeout: float = 2 * 3600,
        absolute_timeout: float = 7 * 24 * 3600,
        recheck_interval: float = 10.0,
        refresh_interval: float = 60.0,
        secure: bool | None = None,
        same_site: Literal["lax", "strict", "none"] = "lax",
        csrf: bool = True,
        trusted_origins: Iterable[str] = (),
        database: SQLDatabase | str = "default",
        table: str = "stellate_sessions",
        security_log: SecurityLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if token_engine is None:
            if not secret:
                raise ValueError(
                    "SessionAuth needs `token_engine=TokenEngine([...])` or `secret=...`: "
                    "pass a long random secret, e.g. `secrets.token_urlsafe(32)`"
                )
            token_engine = TokenEngine([SigningKey(secret, version=1)], clock=clock)
        for name, value in (
            ("idle_timeout", idle_timeout),
            ("absolute_timeout", absolute_timeout),
            ("refresh_interval", refresh_interval),
        ):
            if value <= 0:
                raise ValueError(f"SessionAuth `{name}` must be positive seconds, got `{value}`")
        if recheck_interval < 0:
            raise ValueError(
                "SessionAuth `recheck_interval` must be 0 or more seconds, "
                f"got `{recheck_interval}`"
            )
        if not table.replace("_", "").isalnum():
            raise ValueError(f"SessionAuth `table` `{table}` must be a plain SQL identifier")
        if secure is None:
            secure = load_settings(CoreSettings).is_production
        if same_site == "none" and not secure:
            raise ValueError("SessionAuth `same_site='none'` requires `secure=True` (browsers)")
        self.engine = token_engine.with_purpose("session")
        self.csrf_engine = token_engine.with_purpose("csrf")
        self.cookie_name = cookie_name
        self.csrf_cookie_name = csrf_cookie_name
        self.idle_timeout = float(idle_timeout)
        self.absolute_timeout = float(absolute_timeout)
        self.recheck_interval = float(recheck_interval)
        self.refresh_interval = float(refresh_interval)
        self.secure = secure
        self.same_site = same_site
        self.csrf = csrf
        self.trusted_origins = tuple(trusted_origins)
        self._database = database
        self.table = table
        self.security_log = security_log
        self.clock = clock
        # Sessions this process revoked, by hash, until they would have expired anyway.
        self._revoked: dict[str, float] = {}
        # Users logged out everywhere by this process: sessions started before are dead.
        self._revoked_users: dict[int, float] = {}
        # Cookies that verified, with their decoded payload (see `_verify`).
        self._verified: dict[str, tuple[_Payload, str, Principal]] = {}
        # The last check of each session this process made: (when, principal data, it).
        self._checked: dict[str, tuple[float, dict[str, Any], Principal]] = {}
        self._feed = RevocationFeed(self._revoke_session, self._revoke_user)
        #: Loads a user's principal (groups, permissions) by id for :meth:`login`; the
        #: auth plugin sets it to read ``app.auth.users``.
        self.load_principal: Callable[[int], Awaitable[Principal | None]] | None = None
        self.csrf_check = (
            CSRFCheck(
                token_engine=self.csrf_engine,
                trusted_origins=self.trusted_origins,
                on_violation=self._csrf_violation,
            )
            if csrf
            else None
        )

    @property
    def db(self) -> SQLDatabase:
        return resolve_database(self._database)

    # -- ASGI --------------------------------------------------------------------------

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return ``app`` wrapped in the session (and CSRF) middleware; ``app.use`` calls it."""
        from stellate.auth.middleware import AuthMiddleware

        return AuthMiddleware(app, sessions=self)

    async def ensure_table(self) -> None:
        """Create the UNLOGGED session table when missing (the auth plugin does at startup)."""
        t = self.table
        await self.db.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {t} ("
            "id text PRIMARY KEY, user_id bigint NOT NULL, principal text NOT NULL, "
            "created_at timestamptz NOT NULL, last_seen timestamptz NOT NULL, "
            "expires_at timestamptz NOT NULL, ip text NOT NULL DEFAULT '', "
            "user_agent text NOT NULL DEFAULT '')"
        )
        await self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_user_id ON {t} (user_id)")
        await self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires_at)")

    async def start_revocation_feed(self) -> None:
        """LISTEN for logouts made by other workers (the auth plugin does at startup).

        See :mod:`stellate.auth._revocations`: with the feed, a logout anywhere stops
        the cookie everywhere at once instead of at the next ``recheck_interval``.
        """
        url = getattr(self.db, "url", None)
        if not url:
            raise RuntimeError(
                "The session revocation feed needs the database URL: give SessionAuth a "
                "connected stellate.orm Database (or its alias)"
            )
        await self._feed.start(url)

    async def stop_revocation_feed(self) -> None:
        """Stop listening (the auth plugin does at shutdown)."""
        await self._feed.stop()

    def _revoke_session(self, sid_hash: str, until: float) -> None:
        if len(self._revoked) > 10_000:
            now = self.clock()
            self._revoked = {key: end for key, end in self._revoked.items() if end > now}
        self._revoked[sid_hash] = until

    def _revoke_user(self, user_id: int, before: float) -> None:
        self._revoked_users[user_id] = max(before, self._revoked_users.get(user_id, before))

    async def authenticate(self, scope: Scope) -> None:
        """Set ``scope["user"]`` from the session cookie (what the middleware runs)."""
        state = SessionState(None)
        scope[STATE_SCOPE_KEY] = state
        scope["user"] = None
        raw = _cookie(scope, self.cookie_name)
        if raw is None:
            return
        self._feed.ensure_listening()
        now = self.clock()
        verified = self._verified.get(raw)
        if verified is None:
            verified = self._verify(raw)
            if verified is None:
                state.clear_cookie = True
                return
        payload, sid_hash, principal = verified
        checked = self._checked.get(sid_hash)
        if checked is not None and checked[0] > payload.checked:
            # This process checked the session after the cookie was issued, and the
            # client still sends the older cookie (no cookie jar): use that check
            # rather than query again on every request.
            payload = msgspec.structs.replace(
                payload, user=checked[1], checked=checked[0], seen=max(payload.seen, checked[0])
            )
            principal = checked[2]
        if (
            now - payload.started >= self.absolute_timeout
            or now - payload.seen >= self.idle_timeout
        ):
            state.clear_cookie = True
            return
        user_id = principal.id
        if sid_hash in self._revoked or payload.started < self._revoked_users.get(
            user_id, float("-inf")
        ):
            state.clear_cookie = True
            return
        if now - payload.checked >= self.recheck_interval or scope["method"] not in SAFE_METHODS:
            principal_json = await self._touch(sid_hash, now)
            if principal_json is None:
                # A validly signed cookie whose session is gone: logged out (maybe from
                # another device) or replayed after logout.
                state.clear_cookie = True
                self._remember_revoked(sid_hash, payload)
                await self._log(
                    SecurityEvent.SESSION_FIXATION_ATTEMPT,
                    scope,
                    user_id=user_id,
                    detail="signed cookie of a revoked or expired session was presented",
                )
                return
            user = msgspec.json.decode(principal_json)
            principal = Principal.from_data(user)
            payload = msgspec.structs.replace(payload, user=user, checked=now, seen=now)
            memo = self._checked
            if len(memo) >= _VERIFIED_CACHE_SIZE:
                del memo[next(iter(memo))]
            memo[sid_hash] = (now, user, principal)
            state.new_cookie = self._encode(payload)
        elif now - payload.seen >= self.refresh_interval:
            payload = msgspec.structs.replace(payload, seen=now)
            state.new_cookie = self._encode(payload)
        state.payload = payload
        scope["user"] = principal
        scope[SESSION_SCOPE_KEY] = payload.sid

    def _verify(self, raw: str) -> tuple[_Payload, str, Principal] | None:
        # HMAC verification through itsdangerous is most of what an authenticated
        # request costs, and a browser sends the same cookie until it is re-issued
        # (every `refresh_interval`). Remembering which exact strings verified is safe:
        # only genuine tokens get in, the timestamps inside are re-checked on every
        # request, revocation is checked after this, and the keys never change while
        # the process runs. Bounded, oldest entries evicted first.
        data = self.engine.decode_data(raw)
        if data is None:
            return None
        try:
            payload = msgspec.convert(data, _Payload)
            principal = Principal.from_data(payload.user)
        except (msgspec.ValidationError, KeyError, TypeError):
            return None
        verified = (payload, _hash_sid(payload.sid), principal)
        cache = self._verified
        if len(cache) >= _VERIFIED_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[raw] = verified
        return verified

    # -- login and logout (called from handlers) ----------------------------------------

    async def login(
        self, request: HTTPConnection, user: Any, *, groups: Iterable[str] = ()
    ) -> Principal:
        """Start a new session for ``user`` and make it the request's user.

        Any session the request carried is ended first and the new one gets a fresh
        id, so a session id planted before login is worthless after it (fixation).
        The response of this request sets the new cookies.

        Args:
            request: the current request.
            user: a user model instance, a :class:`Principal` or a mapping with
                ``id`` and ``username`` (with the plugin, its groups and permissions
                are then read from the database).
            groups: group names of the user (ignored when ``user`` is a Principal).
        """
        state = _state(request)
        if state.payload is not None:
            await self._delete(_hash_sid(state.payload.sid), state.payload)
        if isinstance(user, Principal):
            principal = user
        else:
            principal = Principal.from_user(user, groups=groups)
            if self.load_principal is not None:
                # The stored groups and permissions, whatever the object carried.
                principal = await self.load_principal(principal.id) or principal
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        await self._insert(_hash_sid(session_id), principal, now, request)
        payload = _Payload(sid=session_id, user=dict(principal), started=now, seen=now, checked=now)
        state.payload = payload
        state.new_cookie = self._encode(payload)
        state.clear_cookie = False
        state.set_csrf = issue_token(self.csrf_engine, session_id) if self.csrf else None
        request.scope["user"] = principal
        request.scope[SESSION_SCOPE_KEY] = session_id
        return principal

    async def logout(self, request: HTTPConnection) -> bool:
        """End the request's session (record deleted, cookies cleared).

        Returns:
            Whether there was a session to end.
        """
        state = _state(request)
        payload = state.payload
        state.clear_cookie = True
        state.new_cookie = None
        request.scope["user"] = None
        request.scope.pop(SESSION_SCOPE_KEY, None)
        if payload is None:
            return False
        state.payload = None
        await self._delete(_hash_sid(payload.sid), payload)
        return True

    async def logout_everywhere(self, user_id: int) -> int:
        """End every session of ``user_id`` (after a password change, for instance).

        Returns:
            How many sessions were ended.
        """
        status = await self.db.execute(f"DELETE FROM {self.table} WHERE user_id = $1", user_id)
        before = self.clock()
        self._revoke_user(user_id, before)
        await self.db.execute("SELECT pg_notify($1, $2)", CHANNEL, user_message(user_id, before))
        return _count(status)

    async def refresh_principal(self, principal: Principal) -> int:
        """Store ``principal`` in every session of its user (after a role change).

        Sessions pick it up at their next check (``recheck_interval``, or the next
        unsafe request).
        """
        status = await self.db.execute(
            f"UPDATE {self.table} SET principal = $2 WHERE user_id = $1",
            principal.id,
            msgspec.json.encode(principal).decode(),
        )
        return _count(status)

    async def purge_expired(self) -> int:
        """Delete records past their absolute or idle expiry; returns how many."""
        now = self.clock()
        status = await self.db.execute(
            f"DELETE FROM {self.table} WHERE expires_at <= $1 OR last_seen <= $2",
            _timestamp(now),
            _timestamp(now - self.idle_timeout),
        )
        return _count(status)

    # -- internals ------------------------------------------------------------------

    async def _touch(self, sid_hash: str, now: float) -> str | None:
        """Slide the record's idle expiry; its principal JSON, or ``None`` when it ended."""
        principal_json: str | None = await self.db.fetchval(
            f"UPDATE {self.table} SET last_seen = $2 WHERE id = $1 AND expires_at > $2 "
            "AND last_seen > $3 RETURNING principal",
            sid_hash,
            _timestamp(now),
            _timestamp(now - self.idle_timeout),
        )
        return principal_json

    async def _insert(
        self, sid_hash: str, principal: Principal, now: float, request: HTTPConnection
    ) -> None:
        await self.db.execute(
            f"INSERT INTO {self.table} (id, user_id, principal, created_at, last_seen, "
            "expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
            sid_hash,
            principal.id,
            msgspec.json.encode(principal).decode(),
            _timestamp(now),
            _timestamp(now + self.absolute_timeout),
            client_ip(request),
            request.headers.get("user-agent", "")[:512],
        )

    def _encode(self, payload: _Payload) -> str:
        remaining = self.absolute_timeout - (self.clock() - payload.started)
        return self.engine.encode_data(payload, ttl=max(remaining, 1.0))

    async def _delete(self, sid_hash: str, payload: _Payload) -> None:
        await self.db.execute(f"DELETE FROM {self.table} WHERE id = $1", sid_hash)
        self._remember_revoked(sid_hash, payload)
        until = payload.started + self.absolute_timeout
        await self.db.execute("SELECT pg_notify($1, $2)", CHANNEL, session_message(sid_hash, until))

    def _remember_revoked(self, sid_hash: str, payload: _Payload) -> None:
        self._revoke_session(sid_hash, payload.started + self.absolute_timeout)

    async def _csrf_violation(self, scope: Scope, reason: str) -> None:
        await self._log(SecurityEvent.CSRF_VIOLATION, scope, detail=f"reason={reason}")

    async def _log(
        self, event: SecurityEvent, scope: Scope, *, user_id: int | None = None, detail: str = ""
    ) -> None:
        if self.security_log is not None:
            await self.security_log.log_from_request(
                event, HTTPConnection(scope), user_id=user_id, detail=detail
            )

    def cookie_headers(self, state: SessionState) -> list[str]:
        """The ``Set-Cookie`` values the response of a request with ``state`` carries."""
        flags = f"; Path=/; SameSite={self.same_site.capitalize()}"
        if self.secure:
            flags += "; Secure"
        headers: list[str] = []
        if state.new_cookie is not None:
            headers.append(
                f"{self.cookie_name}={state.new_cookie}; HttpOnly; "
                f"Max-Age={int(self.absolute_timeout)}{flags}"
            )
        elif state.clear_cookie:
            expired = "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            headers.append(f'{self.cookie_name}=""; HttpOnly{expired}{flags}')
            if self.csrf:
                headers.append(f'{self.csrf_cookie_name}=""{expired}{flags}')
        if state.set_csrf is not None:
            # Readable by scripts on purpose: single-page apps copy it into X-CSRF-Token.
            headers.append(
                f"{self.csrf_cookie_name}={state.set_csrf}; "
                f"Max-Age={int(self.absolute_timeout)}{flags}"
            )
        return headers


def _state(request: HTTPConnection) -> SessionState:
    state = request.scope.get(STATE_SCOPE_KEY)
    if not isinstance(state, SessionState):
        raise RuntimeError(
            "No session middleware ran for this request: add `app.use(auth)` with your "
            "SessionAuth (or enable the `auth` plugin)"
        )
    return state


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
