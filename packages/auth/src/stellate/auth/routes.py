"""The JSON/form auth routes: login, logout, me, csrf, password change, logout everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stellate.auth.csrf import csrf_token
from stellate.auth.guards import require_auth
from stellate.auth.security import SecurityEvent, client_ip
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
            if locked is not None:
                await log.log_from_request(
                    SecurityEvent.RATE_LIMIT_HIT, request, detail=f"lockout user={username[:64]}"
                )
            raise HTTPException(401, _INVALID)
        await throttle.success(username)
        await users.record_login(user)
        principal = await sessions.login(request, user.principal())
        await log.log_from_request(SecurityEvent.LOGIN_SUCCESS, request, user_id=user.id)
        return JSONResponse({"user": principal, "csrf_token": csrf_token(request)})

    async def logout(request: Request) -> JSONResponse:
        user = request.user
        ended = await sessions.logout(request)
        if ended and isinstance(user, dict):
            await log.log_from_request(SecurityEvent.LOGOUT, request, user_id=user["id"])
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
        if not await auth.api_keys.revoke(key_id, user_id=user.id):
            raise HTTPException(404, f"No active API key `{key_id}` of yours")
        return JSONResponse({"revoked": key_id})

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
    app.include(routes, prefix=prefix)
