"""The ``auth`` plugin: sessions, CSRF, users, login throttling, security log, routes, CLI."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

import click
import msgspec

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKeyStore
from stellate.auth.headers import SecurityHeaders, cors_middleware
from stellate.auth.mail import ConsoleMailer, Mailer
from stellate.auth.middleware import AuthMiddleware
from stellate.auth.passwords import PasswordHasher
from stellate.auth.routes import add_auth_routes
from stellate.auth.security import SecurityLog
from stellate.auth.services import Auth
from stellate.auth.sessions import SessionAuth
from stellate.auth.settings import AuthSettings
from stellate.auth.throttle import LoginThrottle
from stellate.auth.users import UserStore
from stellate.auth.validators import PasswordValidationError, default_validators
from stellate.core import Plugin
from stellate.core._deploy_checks import secret_key_problems
from stellate.core.signing import SigningKey, TokenEngine

if TYPE_CHECKING:
    from stellate.core import App

__all__ = ["AuthPlugin"]

logger = logging.getLogger("stellate.auth")


class AuthPlugin(Plugin):
    """Enables stellate-auth in an app.

    ``setup`` installs the session middleware (with CSRF protection) outermost among
    the plugins after ``orm``, creates the auth tables at startup, adds ``app.auth``
    (an :class:`~stellate.auth.services.Auth`), the routes under ``/auth`` and the
    ``createsuperuser`` and ``changepassword`` commands.

    Args:
        mailer: the transport for password-reset and verification mail; the default
            writes messages to the log (development).
    """

    name: ClassVar[str] = "auth"
    requires: ClassVar[tuple[str, ...]] = ("orm",)
    settings: ClassVar[type[msgspec.Struct] | None] = AuthSettings
    extensions: ClassVar[tuple[str, ...]] = ("auth",)

    def __init__(self, *, mailer: Mailer | None = None) -> None:
        self.mailer = mailer
        self._auth: Auth | None = None
        self._headers: SecurityHeaders | None = None

    def setup(self, app: App) -> None:
        config = self.config if isinstance(self.config, AuthSettings) else AuthSettings()
        secrets_list = list(config.session_secret)
        if not secrets_list and app.settings.secret_key:
            secrets_list = [app.settings.secret_key]
        if not secrets_list:
            # Only reachable outside production (the core refuses to start there without
            # STELLATE_SECRET_KEY): sessions then end when the process restarts.
            logger.warning(
                "No STELLATE_SECRET_KEY or STELLATE_AUTH_SESSION_SECRET: sessions are signed "
                "with a random key and end when the process restarts"
            )
            secrets_list = [secrets.token_urlsafe(32)]
        engine = TokenEngine(
            [
                SigningKey(secret, version=len(secrets_list) - index)
                for index, secret in enumerate(secrets_list)
            ]
        )
        log = SecurityLog()
        passwords = PasswordHasher(config.password_profile)
        auth = Auth(
            sessions=SessionAuth(
                token_engine=engine,
                cookie_name=config.cookie_name,
                idle_timeout=config.idle_timeout,
                absolute_timeout=config.absolute_timeout,
                recheck_interval=config.recheck_interval,
                secure=app.settings.is_production,
                trusted_origins=config.trusted_origins,
                security_log=log,
            ),
            users=UserStore(
                hasher=passwords, validators=default_validators(config.min_password_length)
            ),
            throttle=LoginThrottle(
                limit=config.login_limit,
                ip_limit=config.login_ip_limit or None,
                window=config.login_window,
                lockout=config.login_lockout,
            ),
            security_log=log,
            passwords=passwords,
            api_keys=APIKeyStore(engine, key_display_prefix=config.api_key_prefix),
            tokens=AccountTokens(engine),
            mailer=self.mailer or ConsoleMailer(),
        )
        app.add_extension("auth", auth)
        self._auth = auth
        if config.cors_origins:
            cors, options = cors_middleware(config.cors_origins)
            app.use(cors, **options)
        headers = (
            SecurityHeaders(
                content_security_policy=config.content_security_policy or None,
                hsts=app.settings.is_production,
            )
            if config.security_headers
            else None
        )
        self._headers = headers
        # One layer for headers, sessions, CSRF and API keys (see middleware.py).
        app.use(
            AuthMiddleware,
            sessions=auth.sessions,
            api_keys=auth.api_keys,
            security_headers=headers,
        )
        app.on_startup(auth.ensure_tables)
        app.on_startup(auth.sessions.start_revocation_feed)
        app.on_shutdown(auth.sessions.stop_revocation_feed)
        app.on_shutdown(passwords.close)
        if config.routes_prefix:
            add_auth_routes(app, auth, prefix=config.routes_prefix.rstrip("/"))
        app.add_command(_createsuperuser(app, auth))
        app.add_command(_changepassword(app, auth))

    def deploy_checks(self, app: App) -> list[str]:
        """What ``stellate check --deploy`` reports about auth, each with its fix."""
        auth, config = self._auth, self.config
        if auth is None or not isinstance(config, AuthSettings):
            return []
        problems: list[str] = []
        headers = self._headers
        if headers is None:
            problems.append(
                "STELLATE_AUTH_SECURITY_HEADERS is off: responses carry no CSP, nosniff, "
                "frame-deny or HSTS; set STELLATE_AUTH_SECURITY_HEADERS=true"
            )
        elif not headers.hsts:
            problems.append(
                "HSTS is off (it is sent only when STELLATE_ENV=production): browsers may "
                "reach the site over plain HTTP; set STELLATE_ENV=production"
            )
        if headers is not None and headers.csp_parts is None:
            problems.append(
                "STELLATE_AUTH_CONTENT_SECURITY_POLICY is empty: set a policy (the default "
                "allows only this origin and nonce'd inline scripts)"
            )
        sessions = auth.sessions
        if not sessions.secure:
            problems.append(
                "Session cookies lack the `Secure` flag (set only when STELLATE_ENV="
                "production): they would travel over plain HTTP; set STELLATE_ENV=production"
            )
        if sessions.csrf_check is None:
            problems.append(
                "CSRF protection is off for cookie sessions: create SessionAuth with csrf=True"
            )
        for index, secret in enumerate(config.session_secret):
            label = "STELLATE_AUTH_SESSION_SECRET" + (f" (key {index + 1})" if index else "")
            problems.extend(secret_key_problems(secret, label))
        insecure = [o for o in config.cors_origins if not o.startswith("https://")]
        if insecure:
            problems.append(
                "STELLATE_AUTH_CORS_ORIGINS allows origins without HTTPS ("
                + ", ".join(f"`{o}`" for o in insecure)
                + "): pages served over HTTP can be altered in transit; list https:// origins"
            )
        return problems


async def _with_app(app: App, work: Any) -> Any:
    # Commands run the app's startup (which opens the database) around their work.
    async with app.router.lifespan_context(app):
        return await work()


def _createsuperuser(app: App, auth: Auth) -> click.Command:
    @click.command("createsuperuser", help="Create a staff superuser account.")
    @click.option("--username", prompt=True)
    @click.option("--email", default="", prompt="Email (optional)", show_default=False)
    @click.password_option("--password", help="Prompted (twice) when omitted.")
    def createsuperuser(username: str, email: str, password: str) -> None:
        async def work() -> None:
            user = await auth.users.create_user(
                username, password, email=email, is_staff=True, is_superuser=True
            )
            click.echo(f"Superuser `{user.username}` created (id {user.id}).")

        _run(app, work)

    return createsuperuser


def _changepassword(app: App, auth: Auth) -> click.Command:
    @click.command("changepassword", help="Set a user's password and end their sessions.")
    @click.argument("username")
    @click.password_option("--password", help="Prompted (twice) when omitted.")
    def changepassword(username: str, password: str) -> None:
        async def work() -> None:
            user = await auth.users.get_by_username(username)
            if user is None:
                raise click.ClickException(f"No user named `{username}`: check the spelling")
            await auth.users.set_password(user, password)
            ended = await auth.sessions.logout_everywhere(user.id)
            click.echo(f"Password of `{user.username}` changed; {ended} session(s) ended.")

        _run(app, work)

    return changepassword


def _run(app: App, work: Any) -> None:
    try:
        asyncio.run(_with_app(app, work))
    except PasswordValidationError as exc:
        raise click.ClickException("\n".join(exc.messages)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
