"""The ``auth`` plugin: sessions, CSRF, users, login throttling, security log, routes, CLI."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

import click
import msgspec

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKeyAuth, APIKeyStore
from stellate.auth.headers import SecurityHeadersMiddleware, cors_middleware
from stellate.auth.mail import ConsoleMailer, Mailer
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
        if config.cors_origins:
            cors, options = cors_middleware(config.cors_origins)
            app.use(cors, **options)
        if config.security_headers:
            app.use(
                SecurityHeadersMiddleware,
                content_security_policy=config.content_security_policy,
                hsts=app.settings.is_production,
            )
        app.use(auth.sessions)
        app.use(APIKeyAuth(auth.api_keys))
        app.on_startup(auth.ensure_tables)
        app.on_startup(auth.sessions.start_revocation_feed)
        app.on_shutdown(auth.sessions.stop_revocation_feed)
        app.on_shutdown(passwords.close)
        if config.routes_prefix:
            add_auth_routes(app, auth, prefix=config.routes_prefix.rstrip("/"))
        app.add_command(_createsuperuser(app, auth))
        app.add_command(_changepassword(app, auth))


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
