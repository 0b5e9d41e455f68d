"""Settings of the ``auth`` plugin, read from ``STELLATE_AUTH_*`` variables."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from stellate.auth.headers import DEFAULT_CSP
from stellate.auth.passwords import PasswordProfile

__all__ = ["AuthSettings"]


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of stellate-auth (environment prefix ``STELLATE_AUTH_``).

    Attributes:
        session_secret: signs session cookies and CSRF tokens; defaults to
            ``STELLATE_SECRET_KEY``. Comma-separate several to rotate: the first signs,
            all verify.
        cookie_name: the session cookie.
        idle_timeout: seconds of inactivity that end a session.
        absolute_timeout: seconds after login that end a session.
        recheck_interval: seconds a read trusts the signed cookie before checking the
            server-side session again (writes always check).
        trusted_origins: other origins allowed to send unsafe requests with the cookie.
        password_profile: argon2id parameter set (`rfc9106-low-memory` or `owasp-minimum`).
        min_password_length: shortest password accepted.
        login_limit: failed logins per username before a lockout.
        login_ip_limit: failed logins per client address before a lockout (0: 10 times
            ``login_limit``).
        login_window: seconds over which failed logins are counted.
        login_lockout: seconds a lockout lasts.
        routes_prefix: where the auth routes live; empty to add none.
        api_key_prefix: what raw API keys start with.
        security_headers: add CSP (with nonces), nosniff, frame-deny, referrer policy and,
            in production, HSTS to every response.
        content_security_policy: the CSP; ``{nonce}`` is the per-request nonce.
        cors_origins: origins allowed to call the app from browsers with credentials.
        store: where sessions and login counters live: ``auto`` (Redis when
            ``redis_url`` is set, else PostgreSQL), ``postgres`` or ``redis``.
        redis_url: the Redis of ``store`` (``STELLATE_AUTH_REDIS_URL``,
            ``STELLATE_REDIS_URL`` or ``REDIS_URL``).
        user_model: the app's own user model, ``package.module:ClassName`` (a subclass
            of ``stellate.auth.models.User`` with its own ``Meta.table``); empty for
            the built-in ``stellate_users``.
    """

    session_secret: Annotated[
        list[str], msgspec.Meta(extra={"secret": True, "env": ["STELLATE_SESSION_SECRET"]})
    ] = []
    cookie_name: str = "stellate_session"
    idle_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2 * 3600
    absolute_timeout: Annotated[float, msgspec.Meta(gt=0)] = 7 * 24 * 3600
    recheck_interval: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    trusted_origins: list[str] = []
    password_profile: PasswordProfile = "rfc9106-low-memory"  # noqa: S105 - a profile name
    min_password_length: Annotated[int, msgspec.Meta(ge=1)] = 10
    login_limit: Annotated[int, msgspec.Meta(ge=1)] = 5
    login_ip_limit: Annotated[int, msgspec.Meta(ge=0)] = 0
    login_window: Annotated[float, msgspec.Meta(gt=0)] = 15 * 60
    login_lockout: Annotated[float, msgspec.Meta(gt=0)] = 15 * 60
    routes_prefix: str = "/auth"
    api_key_prefix: str = "sk_"
    security_headers: bool = True
    content_security_policy: str = DEFAULT_CSP
    cors_origins: list[str] = []
    user_model: str = ""
    store: Literal["auto", "postgres", "redis"] = "auto"
    redis_url: Annotated[
        str | None, msgspec.Meta(extra={"env": ["STELLATE_REDIS_URL", "REDIS_URL"]})
    ] = None
