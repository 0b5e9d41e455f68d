"""The ``auth`` plugin: sessions, CSRF, users, login throttling, security log, routes, CLI."""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg
import click
import msgspec

from stellate.auth.account_tokens import AccountTokens
from stellate.auth.apikeys import APIKeyStore
from stellate.auth.headers import SecurityHeaders, cors_middleware
from stellate.auth.mail import ConsoleMailer, Mailer
from stellate.auth.middleware import AuthMiddleware
from stellate.auth.passwords import PasswordHasher
from stellate.auth.permissions import ObjectPermissionHook, sync_permissions
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
from stellate.core.exceptions import ImproperlyConfigured
from stellate.core.signing import SigningKey, TokenEngine

if TYPE_CHECKING:
    from stellate.core import App
    from stellate.orm import Model

__all__ = ["AuthPlugin"]

logger = logging.getLogger("stellate.auth")

#: ``pg_advisory_xact_lock`` key of the ``post_migrate`` hook: "auth:pm" as a bigint (not
#: the migration lock's key, which ``stellate migrate`` holds on another connection).
_POST_MIGRATE_LOCK = int.from_bytes(b"auth:pm\x00", "big")


class AuthPlugin(Plugin):
    """Enables stellate-auth in an app.

    ``setup`` installs the session middleware (with CSRF protection) outermost among
    the plugins after ``orm``, creates the auth tables at startup, adds ``app.auth``
    (an :class:`~stellate.auth.services.Auth`), the routes under ``/auth`` and the
    ``createsuperuser`` and ``changepassword`` commands.

    Args:
        mailer: the transport for password-reset and verification mail; the default
            writes messages to the log (development).
        object_permission_hooks: object-level permission decisions (see
            :mod:`stellate.auth.permissions`), asked in order.
    """

    name: ClassVar[str] = "auth"
    requires: ClassVar[tuple[str, ...]] = ("orm",)
    settings: ClassVar[type[msgspec.Struct] | None] = AuthSettings
    extensions: ClassVar[tuple[str, ...]] = ("auth",)

    def __init__(
        self,
        *,
        mailer: Mailer | None = None,
        object_permission_hooks: Sequence[ObjectPermissionHook] = (),
    ) -> None:
        self.mailer = mailer
        self.object_permission_hooks = tuple(object_permission_hooks)
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
        users = UserStore(
            hasher=passwords,
            validators=default_validators(config.min_password_length),
            user_model=import_user_model(config.user_model) if config.user_model else None,
            object_permission_hooks=self.object_permission_hooks,
        )
        session_options: dict[str, Any] = {
            "token_engine": engine,
            "cookie_name": config.cookie_name,
            "idle_timeout": config.idle_timeout,
            "absolute_timeout": config.absolute_timeout,
            "recheck_interval": config.recheck_interval,
            "secure": app.settings.is_production,
            "trusted_origins": config.trusted_origins,
            "security_log": log,
        }
        throttle_options: dict[str, Any] = {
            "limit": config.login_limit,
            "ip_limit": config.login_ip_limit or None,
            "window": config.login_window,
            "lockout": config.login_lockout,
        }
        sessions: SessionAuth
        throttle: LoginThrottle
        redis_url = _redis_url(config)
        if redis_url is None:
            sessions = SessionAuth(**session_options)
            throttle = LoginThrottle(**throttle_options)
        else:
            from stellate.auth.redis_stores import RedisLoginThrottle, RedisSessionAuth

            sessions = RedisSessionAuth(redis_url=redis_url, **session_options)
            throttle = RedisLoginThrottle(redis_url=redis_url, **throttle_options)
            app.on_shutdown(sessions.close)
            app.on_shutdown(throttle.close)
        auth = Auth(
            sessions=sessions,
            users=users,
            throttle=throttle,
            security_log=log,
            passwords=passwords,
            api_keys=APIKeyStore(
                engine, key_display_prefix=config.api_key_prefix, tables=users.tables
            ),
            tokens=AccountTokens(engine),
            mailer=self.mailer or ConsoleMailer(),
        )
        # Role changes made through the store reach the user's sessions.
        users.on_user_changed = auth.refresh_principal
        sessions.load_principal = auth.load_principal
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

    async def post_migrate(self, app: App, database_url: str) -> None:
        """Create the permissions of the migrated models (``STELLATE_MODELS``).

        Runs after ``stellate migrate``, on its own connection: only models whose
        table exists get rows, and the auth tables are created when missing.
        """
        # The migration machinery is imported only when migrations run.
        from stellate.orm.migrations.config import load_migration_settings
        from stellate.orm.migrations.models_state import load_models

        auth = self._auth
        modules = load_migration_settings().models
        if auth is None or not modules:
            return
        models = load_models(modules)
        connection = await asyncpg.connect(database_url)
        try:
            # Hooks run at once (two deploys, or callers other than `stellate migrate`)
            # take turns: concurrent CREATE TABLE IF NOT EXISTS collide in pg_type.
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _POST_MIGRATE_LOCK)
                users = UserStore(connection, user_model=auth.users.user_model)
                await users.ensure_tables()
                present = [
                    model
                    for model in models
                    if await connection.fetchval("SELECT to_regclass($1)", model._meta.qtable)
                ]
                changed = await sync_permissions(connection, present, table=users.permissions)
        finally:
            await connection.close()
        logger.info("Permissions of %d model(s) in place (%d written)", len(present), changed)

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


def _redis_url(config: AuthSettings) -> str | None:
    if config.store == "redis" and not config.redis_url:
        raise ImproperlyConfigured(
            "STELLATE_AUTH_STORE is `redis` but no Redis URL is set: set STELLATE_REDIS_URL "
            "(or STELLATE_AUTH_REDIS_URL) to redis://host:6379/0"
        )
    return None if config.store == "postgres" else config.redis_url


def import_user_model(path: str) -> type[Model]:
    """The model class named by ``STELLATE_AUTH_USER_MODEL`` (``pkg.models:Member``).

    Raises:
        ImproperlyConfigured: the path does not name a subclass of
            ``stellate.auth.models.User``.
    """
    module_name, sep, name = path.partition(":")
    if not sep:
        module_name, _, name = path.rpartition(".")
    setting = f"STELLATE_AUTH_USER_MODEL `{path}`"
    try:
        value = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{setting} cannot be imported ({exc}): write `package.module:ClassName`"
        ) from None
    from stellate.auth.models import User

    if not (isinstance(value, type) and issubclass(value, User)) or value is User:
        raise ImproperlyConfigured(
            f"{setting} is not a subclass of stellate.auth.models.User: subclass it with "
            "your own `Meta.table` and extra fields (or unset the variable for the built-in)"
        )
    return value


async def _with_app(app: App, work: Any) -> Any:
    # Commands run the app's startup (which opens the database) around their work.
    async with app.router.lifespan_context(app):
        return await work()


def _createsuperuser(app: App, auth: Auth) -> click.Command:
    @click.command(
        "createsuperuser",
        help="Create a staff superuser account.\n\n\b\nExamples:\n"
        "  stellate --app app:app createsuperuser\n"
        "  stellate --app app:app createsuperuser --username admin --email a@example.com",
    )
    @click.option("--username", prompt=True)
    @click.option("--email", default="", prompt="Email (optional)", show_default=False)
    @click.password_option("--password", help="Prompted (twice) when omitted.")
    @click.option(
        "--field",
        "fields",
        multiple=True,
        metavar="NAME=VALUE",
        help="A field of your user model (STELLATE_AUTH_USER_MODEL); required ones "
        "not given are prompted for.",
    )
    def createsuperuser(username: str, email: str, password: str, fields: tuple[str, ...]) -> None:
        extra = _extra_fields(auth, fields)

        async def work() -> None:
            user = await auth.users.create_user(
                username, password, email=email, is_staff=True, is_superuser=True, extra=extra
            )
            click.echo(f"Superuser `{user.username}` created (id {user.id}).")

        _run(app, work)

    return createsuperuser


def _extra_fields(auth: Auth, given: tuple[str, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"`{item}` is not NAME=VALUE", param_hint="--field")
        extra[name.strip()] = value
    model = auth.users.user_model
    for name in auth.users.extra_fields:
        field = model._meta.get_field(name) if model is not None else None
        if name not in extra and field is not None and field.required:
            extra[name] = click.prompt(name.replace("_", " ").capitalize())
    if model is not None:
        for name, value in list(extra.items()):
            if name in auth.users.extra_fields:
                extra[name] = _convert(model, name, value)
    return extra


def _convert(model: type[Model], name: str, value: str) -> Any:
    field = model._meta.get_field(name)
    try:
        return msgspec.convert(value, field.python_type, strict=False)
    except (msgspec.ValidationError, TypeError):
        raise click.BadParameter(
            f"`{value}` is not a valid `{name}` ({getattr(field.python_type, '__name__', '?')})",
            param_hint="--field",
        ) from None


def _changepassword(app: App, auth: Auth) -> click.Command:
    @click.command(
        "changepassword",
        help="Set a user's password and end their sessions.\n\n\b\nExample:\n"
        "  stellate --app app:app changepassword admin",
    )
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
