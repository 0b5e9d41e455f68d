"""Permissions: who may call a view, and act on an object; composable with ``& | ~``.

``request.user`` is the principal an auth middleware set: a dict-like object with
``is_staff`` / ``is_superuser`` (stellate-auth's ``Principal``) or ``None`` for an
anonymous request. A mapping with ``is_authenticated: False`` counts as anonymous.

Example:
    ```python
    class BookViewSet(ModelViewSet):
        permission_classes = [IsAuthenticatedOrReadOnly]

    class AuditViewSet(ReadOnlyModelViewSet):
        permission_classes = [IsAuthenticated & (IsAdminUser | IsOwner)]
    ```
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar

__all__ = [
    "SAFE_METHODS",
    "AllowAny",
    "BasePermission",
    "IsAdminUser",
    "IsAuthenticated",
    "IsAuthenticatedOrReadOnly",
    "is_authenticated",
    "is_staff",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_authenticated(user: Any) -> bool:
    """Whether ``user`` (``request.user``) is an authenticated principal."""
    if user is None:
        return False
    if isinstance(user, dict):
        return bool(user.get("is_authenticated", True))
    return bool(getattr(user, "is_authenticated", True))


def is_staff(user: Any) -> bool:
    """Whether ``user`` is authenticated staff (``is_staff`` or ``is_superuser``)."""
    if not is_authenticated(user):
        return False
    if isinstance(user, dict):
        return bool(user.get("is_staff") or user.get("is_superuser"))
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))


class _PermissionMeta(type):
    """Lets permission *classes* combine: ``IsAuthenticated & IsAdminUser``."""

    def __and__(cls, other: type[BasePermission]) -> type[BasePermission]:
        return _combine("And", typing.cast("type[BasePermission]", cls), other)

    def __or__(cls, other: type[BasePermission]) -> type[BasePermission]:
        return _combine("Or", typing.cast("type[BasePermission]", cls), other)

    def __invert__(cls) -> type[BasePermission]:
        return _combine("Not", typing.cast("type[BasePermission]", cls))


class BasePermission(metaclass=_PermissionMeta):
    """Override ``has_permission`` and/or ``has_object_permission``; both allow by default.

    ``message`` is the detail of the 403 answer when this permission refuses.

    Example:
        ```python
        class IsOwner(BasePermission):
            message = "Only the owner may change this book"

            def has_object_permission(self, request, view, obj) -> bool:
                return request.user is not None and obj.owner_id == request.user["id"]
        ```
    """

    message: ClassVar[str] = "You do not have permission to perform this action."
    #: Whether a refusal of an anonymous request means "log in" (401) rather than 403.
    requires_authentication: ClassVar[bool] = False

    def has_permission(self, request: Any, view: Any) -> bool:
        """Whether the request may reach the view at all."""
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        """Whether the request may act on ``obj`` (checked by ``get_object``)."""
        return True


def _combine(kind: str, *operands: type[BasePermission]) -> type[BasePermission]:
    for operand in operands:
        if not (isinstance(operand, type) and issubclass(operand, BasePermission)):
            raise TypeError(
                f"Cannot combine `{operand!r}` with permissions: use BasePermission subclasses"
            )
    name = {"And": " & ", "Or": " | "}.get(kind, "")
    label = f"~{operands[0].__name__}" if kind == "Not" else name.join(o.__name__ for o in operands)
    base = {"And": _And, "Or": _Or, "Not": _Not}[kind]
    return type(f"({label})", (base,), {"operands": operands})


class _Composite(BasePermission):
    operands: ClassVar[tuple[type[BasePermission], ...]] = ()

    def __init__(self) -> None:
        self.parts = [operand() for operand in self.operands]
        self.requires_authentication = any(  # type: ignore[misc]
            p.requires_authentication for p in self.parts
        )
        self.message = self.parts[0].message  # type: ignore[misc]


class _And(_Composite):
    def has_permission(self, request: Any, view: Any) -> bool:
        for part in self.parts:
            if not part.has_permission(request, view):
                self.message = part.message  # type: ignore[misc]
                self.requires_authentication = part.requires_authentication  # type: ignore[misc]
                return False
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        for part in self.parts:
            if not part.has_object_permission(request, view, obj):
                self.message = part.message  # type: ignore[misc]
                return False
        return True


class _Or(_Composite):
    def has_permission(self, request: Any, view: Any) -> bool:
        return any(part.has_permission(request, view) for part in self.parts)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        # An operand that refused the request itself must not grant the object.
        return any(
            part.has_permission(request, view) and part.has_object_permission(request, view, obj)
            for part in self.parts
        )


class _Not(_Composite):
    def has_permission(self, request: Any, view: Any) -> bool:
        return not self.parts[0].has_permission(request, view)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return not self.parts[0].has_object_permission(request, view, obj)


class AllowAny(BasePermission):
    """Everyone, authenticated or not."""


class IsAuthenticated(BasePermission):
    """Only authenticated users (anonymous requests get 401)."""

    message = "Authentication credentials were not provided."
    requires_authentication = True

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_authenticated(request.user)


class IsAdminUser(BasePermission):
    """Only staff (``is_staff`` or ``is_superuser`` on ``request.user``)."""

    message = "Staff access required."
    requires_authentication = True

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_staff(request.user)


class IsAuthenticatedOrReadOnly(BasePermission):
    """Anyone may read (GET, HEAD, OPTIONS); only authenticated users may write."""

    message = "Authentication credentials were not provided."
    requires_authentication = True

    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS or is_authenticated(request.user)
