"""The JSON/form auth routes: login, logout, me, csrf, password change, logout everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.auth.csrf import csrf_token
from stellate.auth.guards import require_auth
from stellate.auth.mail import MailMessage
from stellate.auth.security import SecurityEvent, client_ip
from stellate.auth.signals import user_logged_in, user_logged_out, user_login_failed
from stellate.auth.validators import PasswordValidationError
from stellate.core.exceptions import HTTPException
from stellate.core.requests import Request
from stellate.core.responses import JSONResponse
from stellate.core.routing import HandlerRoute

if TYPE_CHECKING:
    from stellate.auth.services import Auth
    from stellate.core.app import App

__all__ = ["add_auth_routes"]

_INVALID = "Invalid username or password"


async def _credentials(request: Request, *names: str) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        data: Any = {name: form.get(name) for name in names}
    else:
        data = await request.json()
        if not isinstance(data, dict):
            raise HTTPException(422, "Send a JSON object: " + ", ".join(f"`{n}`" for n in names))
    missing = [name for name in names if not isinstance(data.get(name), str) or not data[name]]
    if missing:
        raise HTTPException(
            422, "Missing or empty field(s): " + ", ".join(f"`{name}`" for name in missing)
        )
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the query.
    with_nul = [name for name in names if "\x00" in data[name]]
    if with_nul:
        raise HTTPException(
            422, "NUL characters are not allowed in " + ", ".join(f"`{n}`" for n in with_nul)
        )
    return {name: data[name] for name in names}


def add_auth_routes(app: App, auth: Auth, *, prefix: str = "/auth") -> None:
    """Register the auth routes under ``prefix`` on ``app``."""
    sessions, users, throttle, log = auth.sessions, auth.users, auth.throttle, auth.security_log

    async def login(request: Request) -> JSONResponse:
        data = await _credentials(request, "username", "password")
        username, ip = data["username"], client_ip(request)
        wait = await throttle.retry_after(ip, username)
        if wait is not None:
            await log.log_from_request(
                SecurityEvent.RATE_LIMIT_HIT, request, detail=f"login user={username[:64]}"
            )
            raise HTTPException(
                429,
                f"Too many failed logins: try again in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )
        user, _ = await users.authenticate(username, data["password"])
        if user is None:
            locked = await throttle.failure(ip, username)
            await log.log_from_request(
                SecurityEvent.LOGIN_FAILED, request, detail=f"user={username[:64]}"
            )
            await user_login_failed.send(request.app, request=request, username=username)
            if locked is not None:
                await log.log_from_request(
                    SecurityEvent.RATE_LIMIT_HIT, request, detail=f"lockout user={username[:64]}"
                )
            raise HTTPException(401, _INVALID)
        await throttle.success(username)
        await users.record_login(user)
        principal = await sessions.login(request, user.principal())
        await log.log_from_request(SecurityEvent.LOGIN_SUCCESS, request, user_id=user.id)
        await user_logged_in.send(request.app, request=request, user=user)
        return JSONResponse({"user": principal, "csrf_token": csrf_token(request)})

    async def logout(request: Request) -> JSONResponse:
        user = request.user
        ended = await sessions.logout(request)
        if ended and isinstance(user, dict):
            await log.log_from_request(SecurityEvent.LOGOUT, request, user_id=user["id"])
            await user_logged_out.send(request.app, request=request, user=user)
        return JSONResponse({"logged_out": ended})

    async def logout_everywhere(request: Request) -> JSONResponse:
        user = require_auth(request)
        ended = await sessions.logout_everywhere(user.id)
        await sessions.logout(request)
        await log.log_from_request(
            SecurityEvent.LOGOUT, request, user_id=user.id, detail=f"everywhere sessions={ended}"
        )
        return JSONResponse({"sessions_ended": ended})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": require_auth(request)})

    async def csrf(request: Request) -> JSONResponse:
        require_auth(request)
        return JSONResponse({"csrf_token": csrf_token(request)})

    async def change_password(request: Request) -> JSONResponse:
        principal = require_auth(request)
        data = await _credentials(request, "old_password", "new_password")
        user = await users.get(principal.id)
        if user is None or not await users.verify_password(user, data["old_password"]):
            await log.log_from_request(
                SecurityEvent.LOGIN_FAILED, request, detail="password change: wrong old password"
            )
            raise HTTPException(400, "The current password is wrong: `old_password` must match")
        try:
            await users.set_password(user, data["new_password"])
        except PasswordValidationError as exc:
            raise HTTPException(422, {"new_password": exc.messages}) from None
        # Every other session (perhaps the attacker's) ends; this one continues under
        # a new id.
        await sessions.logout_everywhere(user.id)
        await sessions.login(request, user.principal())
        await log.log_from_request(SecurityEvent.PASSWORD_CHANGED, request, user_id=user.id)
        return JSONResponse({"changed": True, "csrf_token": csrf_token(request)})

    async def create_api_key(request: Request) -> JSONResponse:
        user = require_auth(request)
        data = await request.json() if await request.body() else {}
        name = data.get("name", "") if isinstance(data, dict) else ""
        if not isinstance(name, str):
            raise HTTPException(422, "`name` must be a string")
        generated = await auth.api_keys.generate(user_id=user.id, name=name)
        # The only response that ever holds the raw key.
        return JSONResponse({"raw_key": generated.raw_key, "key": generated.key}, status_code=201)

    async def list_api_keys(request: Request) -> JSONResponse:
        user = require_auth(request)
        return JSONResponse({"keys": await auth.api_keys.list_for_user(user.id)})

    async def revoke_api_key(request: Request, key_id: str) -> JSONResponse:
        user = require_auth(request)
        if "\x00" in key_id or not await auth.api_keys.revoke(key_id, user_id=user.id):
            raise HTTPException(404, f"No active API key `{key_id}` of yours")
        return JSONResponse({"revoked": key_id})

    async def request_password_reset(request: Request) -> JSONResponse:
        data = await request.json()
        if not isinstance(data, dict) or not (data.get("email") or data.get("username")):
            raise HTTPException(422, "Send `email` (or `username`) of the account to reset")
        key = "email" if data.get("email") else "username"
        value = str(data[key])
        if "\x00" in value:
            raise HTTPException(422, f"NUL characters are not allowed in `{key}`")
        if key == "email":
            user = await users.get_by_email(value)
        else:
            user = await users.get_by_username(value)
        if user is not None and user.is_active and user.email:
            token = auth.tokens.password_reset_token(user)
            link = f"{request.base_url}{prefix.lstrip('/')}/password-reset/confirm?token={token}"
            await auth.mailer.send(
                MailMessage(
                    to=user.email,
                    subject="Reset your password",
                    body=(
                        f"Someone asked to reset the password of `{user.username}`.\n"
                        f"To choose a new one, open this link within an hour:\n{link}\n"
                        "If it was not you, ignore this message: nothing changes."
                    ),
                )
            )
        # The same answer whether or not the account exists: no user enumeration.
        return JSONResponse(
            {"detail": "If an account matches, a reset link has been sent to its e-mail"},
            status_code=202,
        )

    async def confirm_password_reset(request: Request) -> JSONResponse:
        data = await _credentials(request, "token", "new_password")
        user_id = auth.tokens.password_reset_user_id(data["token"])
        user = None if user_id is None else await users.get(user_id)
        if user is None or not auth.tokens.password_reset_matches(data["token"], user):
            raise HTTPException(
                400,
                "This reset link is invalid, expired or already used: request a new one "
                f"(POST {prefix}/password-reset)",
            )
        try:
            await users.set_password(user, data["new_password"])
        except PasswordValidationError as exc:
            raise HTTPException(422, {"new_password": exc.messages}) from None
        ended = await sessions.logout_everywhere(user.id)
        await throttle.reset(username=user.username)
        await log.log_from_request(
            SecurityEvent.PASSWORD_CHANGED, request, user_id=user.id, detail="reset by e-mail"
        )
        return JSONResponse({"changed": True, "sessions_ended": ended})

    async def request_email_verification(request: Request) -> JSONResponse:
        principal = require_auth(request)
        user = await users.get(principal.id)
        if user is None or not user.email:
            raise HTTPException(422, "Your account has no e-mail address to verify")
        token = auth.tokens.email_verification_token(user)
        await auth.mailer.send(
            MailMessage(
                to=user.email,
                subject="Confirm your e-mail address",
                body=f"Confirm this address for `{user.username}` with the token:\n{token}",
            )
        )
        return JSONResponse({"detail": f"A confirmation was sent to {user.email}"}, status_code=202)

    async def confirm_email(request: Request) -> JSONResponse:
        data = await _credentials(request, "token")
        user_id = auth.tokens.email_verification_user_id(data["token"])
        user = None if user_id is None else await users.get(user_id)
        if user is None or not auth.tokens.email_verification_matches(data["token"], user):
            raise HTTPException(
                400,
                "This confirmation token is invalid, expired or for another address: "
                f"request a new one (POST {prefix}/verify-email)",
            )
        await users.mark_email_verified(user)
        return JSONResponse({"email_verified": True})

    # One mount: requests outside the prefix are matched against it once instead of
    # against every auth route (Starlette's router tries routes in order).
    routes = [
        HandlerRoute("/login", login, methods=["POST"], name="auth:login"),
        HandlerRoute("/logout", logout, methods=["POST"], name="auth:logout"),
        HandlerRoute(
            "/logout-everywhere",
            logout_everywhere,
            methods=["POST"],
            name="auth:logout-everywhere",
        ),
        HandlerRoute("/me", me, methods=["GET"], name="auth:me"),
        HandlerRoute("/csrf", csrf, methods=["GET"], name="auth:csrf"),
        HandlerRoute("/password", change_password, methods=["POST"], name="auth:password"),
        HandlerRoute("/api-keys", create_api_key, methods=["POST"], name="auth:api-key-new"),
        HandlerRoute("/api-keys", list_api_keys, methods=["GET"], name="auth:api-keys"),
        HandlerRoute(
            "/api-keys/{key_id}",
            revoke_api_key,
            methods=["DELETE"],
            name="auth:api-key-revoke",
        ),
    ]
    routes += [
        HandlerRoute(
            "/password-reset",
            request_password_reset,
            methods=["POST"],
            name="auth:password-reset",
        ),
        HandlerRoute(
            "/password-reset/confirm",
            confirm_password_reset,
            methods=["POST"],
            name="auth:password-reset-confirm",
        ),
        HandlerRoute(
            "/verify-email",
            request_email_verification,
            methods=["POST"],
            name="auth:verify-email",
        ),
        HandlerRoute(
            "/verify-email/confirm",
            confirm_email,
            methods=["POST"],
            name="auth:verify-email-confirm",
        ),
    ]
    app.include(routes, prefix=prefix)
