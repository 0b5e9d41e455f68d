"""Declarative access policies: on their own, and guarding a viewset over HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from rest_models import Book, PrincipalFromHeader, user_header

from stellate.core import App, Request
from stellate.core.testing import AppClient
from stellate.rest import ModelViewSet, Router, action
from stellate.rest.access import AccessPolicy, PolicyContext

OWNER = {"id": 7, "username": "ann"}
STRANGER = {"id": 8, "username": "bob"}
EDITOR = {"id": 9, "username": "eve", "groups": ["editors"]}
BANNED_EDITOR = {"id": 10, "username": "mal", "groups": ["editors", "banned"]}


class BookAccessPolicy(AccessPolicy):
    statements: ClassVar[Any] = (
        {"action": ["list", "retrieve"], "principal": "*", "effect": "allow"},
        {"action": "create", "principal": "authenticated", "effect": "allow"},
        {
            "action": ["update", "partial_update", "destroy"],
            "principal": "authenticated",
            "effect": "allow",
            "condition": "is_owner",
        },
        {"action": "feature", "principal": ["staff", "group:editors"], "effect": "allow"},
        {"action": "*", "principal": "group:banned", "effect": "deny"},
    )

    def is_owner(self, context: PolicyContext) -> bool:
        return context.obj is not None and context.obj.owner_id == context.user["id"]


def a_book(owner_id: int) -> Book:
    return Book(title="T", isbn="9780000000000", price=1, author_id=1, owner_id=owner_id)


def test_policy_without_a_request() -> None:
    policy = BookAccessPolicy()
    assert policy.allows(user=None, action="list")
    assert not policy.allows(user=None, action="create")
    assert policy.allows(user=STRANGER, action="create")
    assert policy.allows(user=OWNER, action="destroy", obj=a_book(7))
    assert not policy.allows(user=STRANGER, action="destroy", obj=a_book(7))
    assert policy.allows(user=EDITOR, action="feature")
    assert policy.allows(user={**STRANGER, "is_staff": True}, action="feature")
    assert not policy.allows(user=STRANGER, action="feature")
    # Deny wins over every allow.
    assert not policy.allows(user=BANNED_EDITOR, action="feature")
    assert not policy.allows(user=BANNED_EDITOR, action="list")
    # No statement matches: denied.
    assert not policy.allows(user=OWNER, action="export")


def test_bad_statements_are_clear_errors() -> None:
    class Typo(AccessPolicy):
        statements: ClassVar[Any] = ({"action": "*", "principal": "*", "efect": "allow"},)

    with pytest.raises(TypeError, match=r"unknown keys \['efect'\]"):
        Typo().allows(user=None, action="list")

    class Maybe(AccessPolicy):
        statements: ClassVar[Any] = ({"action": "*", "principal": "*", "effect": "maybe"},)

    with pytest.raises(TypeError, match="use `allow` or `deny`"):
        Maybe().allows(user=None, action="list")

    class Missing(AccessPolicy):
        statements: ClassVar[Any] = (
            {"action": "*", "principal": "*", "effect": "allow", "condition": "is_nice"},
        )

    with pytest.raises(TypeError, match=r"no method `is_nice\(self, context\)`"):
        Missing().allows(user=None, action="list")


class PolicyBooks(ModelViewSet):
    model = Book
    permission_classes = (BookAccessPolicy,)

    @action(methods=["POST"], detail=True, url_path="feature")
    async def feature(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        book = await self.get_object()
        return {"featured": book.id}


async def test_policy_guards_a_viewset(library: dict[str, Any]) -> None:
    router = Router()
    router.register("books", PolicyBooks)
    app = App(plugins=["orm", "rest"])
    app.use(PrincipalFromHeader)
    app.include(router, prefix="/p")
    book = library["books"][0]
    await Book.objects.filter(id=book.id).update(owner_id=7)
    async with AppClient(app) as client:
        assert (await client.get("/p/books/")).status_code == 200
        anonymous = await client.patch(f"/p/books/{book.id}/", json={"pages": 60})
        assert anonymous.status_code == 401
        stranger = await client.patch(
            f"/p/books/{book.id}/", json={"pages": 60}, headers=user_header(**STRANGER)
        )
        assert stranger.status_code == 403
        assert stranger.json()["detail"] == "Access denied by the access policy."
        owner = await client.patch(
            f"/p/books/{book.id}/", json={"pages": 60}, headers=user_header(**OWNER)
        )
        assert owner.status_code == 200
        assert (await Book.objects.get(id=book.id)).pages == 60
        editor = await client.post(f"/p/books/{book.id}/feature/", headers=user_header(**EDITOR))
        assert editor.json() == {"featured": book.id}
        banned = await client.get("/p/books/", headers=user_header(**BANNED_EDITOR))
        assert banned.status_code == 403
