"""Checks route handlers run: logged in (401), staff (403), permission (403)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

from stellate.auth.principal import Principal
from stellate.auth.security import SecurityEvent, SecurityLog
from stellate.core.exceptions import HTTPException

__all__ = [
    "load_user",
    "login_required",
    "permission_required",
    "require_auth",
    "require_staff",
    "staff_required",
]

H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


def require_auth(request: HTTPConnection) -> Principal:
    """The logged-in principal, or a 401 error.

    Raises:
        HTTPException: 401 when nobody is logged in.
    """
    user = request.scope.get("user")
    if user is None or not isinstance(user, dict) or "id" not in user:
        raise HTTPException(
            401,
            "Authentication required: log in (POST /auth/login) or send an API key",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    return user if isinstance(user, Principal) else Principal.from_data(user)


async def load_user(request: HTTPConnection) -> Any:
    """The full user model instance of the logged-in principal, or ``None``.

    The model is the app's own when ``STELLATE_AUTH_USER_MODEL`` swaps it, else
    ``stellate.auth.models.User``.

    ``request.user`` costs no query; this is the one query for when a handler needs
    the whole row (``email``, ``last_login``...).
    """
    user = request.scope.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        return None
    auth = vars(request.app).get("auth") if "app" in request.scope else None
    model = getattr(auth, "user_model", None)
    if model is None:
        # Imported here: importing the models module claims the ORM class name `User`,
        # which only apps that use these models should do.
        from stellate.auth.models import User

        model = User
    return await model.objects.filter(pk=user["id"]).first()


async def require_staff(request: HTTPConnection) -> Principal:
    """The logged-in staff principal, or 401 (nobody) / 403 (not staff)."""
    user = require_auth(request)
    if not user.get("is_staff"):
        await _denied(request, "staff required")
        raise HTTPException(403, "Staff access required")
    return user


def login_required(handler: H) -> H:
    """Decorator: the handler runs only for logged-in users (401 otherwise)."""

    @functools.wraps(handler)
    async def wrapper(request: HTTPConnection, *args: Any, **kwargs: Any) -> Any:
        require_auth(request)
        return await handler(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def staff_required(handler: H) -> H:
    """Decorator: the handler runs only for staff users (401 / 403 otherwise)."""

    @functools.wraps(handler)
    async def wrapper(request: HTTPConnection, *args: Any, **kwargs: Any) -> Any:
        await require_staff(request)
        return await handler(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def permission_required(codename: str) -> Callable[[H], H]:
    """Decorator: the handler runs only for users holding ``codename`` (401 / 403).

    Needs the ``auth`` plugin (it reads ``app.auth.users``). Superusers hold every
    permission.

    Example:
        ```python
        @app.post("/books/{book_id:int}/publish")
        @permission_required("books.change_book")
        async def publish(request, book_id): ...
        ```
    """

    def decorator(handler: H) -> H:
        @functools.wraps(handler)
        async def wrapper(request: HTTPConnection, *args: Any, **kwargs: Any) -> Any:
            user = require_auth(request)
            auth = getattr(request.app, "auth", None)
            users = getattr(auth, "users", None)
            if users is None:
                raise RuntimeError(
                    'permission_required() needs the `auth` plugin: add "auth" to plugins'
                )
            if not await users.has_perm(user, codename):
                await _denied(request, f"missing {codename}")
                raise HTTPException(403, f"Permission `{codename}` required")
            return await handler(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


async def _denied(request: HTTPConnection, detail: str) -> None:
    auth = getattr(request.scope.get("app"), "__dict__", {}).get("auth")
    log = getattr(auth, "security_log", None)
    if isinstance(log, SecurityLog):
        await log.log_from_request(SecurityEvent.PERMISSION_DENIED, request, detail=detail)
