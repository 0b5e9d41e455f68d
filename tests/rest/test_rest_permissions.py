"""Permission classes, their composition, and the 401/403 answers."""

from __future__ import annotations

from typing import Any

import pytest
from rest_models import Book

from stellate.core.requests import Request
from stellate.rest import (
    AllowAny,
    BasePermission,
    IsAdminUser,
    IsAuthenticated,
    IsAuthenticatedOrReadOnly,
)
from stellate.rest.permissions import is_authenticated, is_staff


def request(method: str = "GET", user: Any = None) -> Request:
    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    if user is not None:
        scope["user"] = user
    return Request(scope)


class IsOwner(BasePermission):
    message = "Only the owner may do this"

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return request.user is not None and obj.owner_id == request.user["id"]


ANN = {"id": 1, "username": "ann"}
STAFF = {"id": 2, "username": "sam", "is_staff": True}


def allows(permission: type[BasePermission], req: Request) -> bool:
    return permission().has_permission(req, None)


def test_principals() -> None:
    assert not is_authenticated(None)
    assert is_authenticated(ANN)
    assert not is_authenticated({"id": 0, "is_authenticated": False})
    assert not is_staff(ANN)
    assert is_staff(STAFF)
    assert is_staff({"id": 3, "is_superuser": True})


@pytest.mark.parametrize(
    ("permission", "anonymous_get", "anonymous_post", "user_post", "staff_post"),
    [
        (AllowAny, True, True, True, True),
        (IsAuthenticated, False, False, True, True),
        (IsAuthenticatedOrReadOnly, True, False, True, True),
        (IsAdminUser, False, False, False, True),
        (IsAuthenticated & IsAdminUser, False, False, False, True),
        (IsAdminUser | IsAuthenticatedOrReadOnly, True, False, True, True),
        (~IsAuthenticated, True, True, False, False),
    ],
)
def test_permission_table(
    permission: type[BasePermission],
    anonymous_get: bool,
    anonymous_post: bool,
    user_post: bool,
    staff_post: bool,
) -> None:
    assert allows(permission, request("GET")) is anonymous_get
    assert allows(permission, request("POST")) is anonymous_post
    assert allows(permission, request("POST", ANN)) is user_post
    assert allows(permission, request("POST", STAFF)) is staff_post


def test_object_permissions_compose() -> None:
    mine = Book(title="t", isbn="9780000000000", price=1, author_id=1, owner_id=1)
    theirs = Book(title="t", isbn="9780000000001", price=1, author_id=1, owner_id=5)
    combined = IsAuthenticated & (IsOwner | IsAdminUser)
    check = combined()
    assert check.has_object_permission(request("PUT", ANN), None, mine)
    assert not check.has_object_permission(request("PUT", ANN), None, theirs)
    assert check.has_object_permission(request("PUT", STAFF), None, theirs)
    assert "IsOwner | IsAdminUser" in combined.__name__


def test_combining_with_something_else_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="use BasePermission subclasses"):
        IsAuthenticated & object  # type: ignore[operator]
