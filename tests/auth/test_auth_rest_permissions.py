"""The permission classes for stellate.rest viewsets, over HTTP (needs stellate-rest)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

pytest.importorskip("stellate.rest", reason="these classes serve stellate-rest viewsets")

from test_auth_permissions import PermNote, auth_of, login, make_app, serving

from stellate.auth import HasPermission, ObjectPermissions
from stellate.core.testing import AppClient
from stellate.rest import ModelViewSet, Router, action

GOOD = "violet tractor under the sea"


class NoteViewSet(ModelViewSet):
    model = PermNote
    permission_classes = (ObjectPermissions,)
    pagination_class = None

    @action(
        detail=False,
        methods=["post"],
        permission_classes=[HasPermission("test_auth_permissions.lock_permnote")],
    )
    async def lock_all(self, request: Any) -> dict[str, bool]:
        return {"locked": True}


@pytest.fixture
async def client() -> Any:
    app = make_app("rest")
    router = Router()
    router.register("notes", NoteViewSet)
    app.include(router, prefix="/api")
    async with serving(app) as http:
        yield http


async def test_rest_viewset_checks_model_and_object_permissions_over_http(
    client: AppClient,
) -> None:
    auth = auth_of(client)
    await auth.sync_permissions([PermNote])
    owner = await auth.users.create_user(f"nown-{secrets.token_hex(4)}", GOOD)
    reader = await auth.users.create_user(f"nread-{secrets.token_hex(4)}", GOOD)
    for codename in ("view", "add"):
        await auth.users.grant(f"test_auth_permissions.{codename}_permnote", user_id=owner.id)
    await auth.users.grant("test_auth_permissions.view_permnote", user_id=reader.id)

    assert (await client.get("/api/notes/")).status_code == 401
    token = await login(client, owner.username)
    headers = {"X-CSRF-Token": token}
    created = await client.post(
        "/api/notes/", json={"author": owner.id, "title": "a"}, headers=headers
    )
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    # No `change` on the model, but the note's own hook lets its owner edit it.
    edited = await client.patch(f"/api/notes/{note_id}/", json={"title": "b"}, headers=headers)
    assert edited.status_code == 200, edited.text
    assert (await client.post("/api/notes/lock_all/", headers=headers)).status_code == 403

    token = await login(client, reader.username)
    headers = {"X-CSRF-Token": token}
    assert (await client.get("/api/notes/")).status_code == 200
    assert (await client.get(f"/api/notes/{note_id}/")).status_code == 200
    refused = await client.post(
        "/api/notes/", json={"author": reader.id, "title": "x"}, headers=headers
    )
    assert refused.status_code == 403
    assert "test_auth_permissions.add_permnote" in refused.text
    denied = await client.patch(f"/api/notes/{note_id}/", json={"title": "c"}, headers=headers)
    assert denied.status_code == 403
    assert "test_auth_permissions.change_permnote" in denied.text
    assert (await client.delete(f"/api/notes/{note_id}/", headers=headers)).status_code == 403

    await auth.users.grant("test_auth_permissions.lock_permnote", user_id=reader.id)
    assert (await client.post("/api/notes/lock_all/", headers=headers)).json() == {"locked": True}
