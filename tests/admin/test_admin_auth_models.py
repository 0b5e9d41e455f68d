"""stellate-auth's users and groups in the admin: listed, edited, the hash never shown."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from admin_support import PASSWORD, SETTINGS, login

from stellate.admin.auth_admin import register_auth_models
from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Database


@pytest.fixture
async def users_admin(tables: Database) -> AsyncIterator[AppClient]:
    app = App(plugins=["orm", "auth", "admin"], settings=SETTINGS)
    register_auth_models(app.admin)  # type: ignore[attr-defined]
    async with AppClient(app) as client:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        yield client


async def test_users_are_listed_and_edited_without_their_hash(users_admin: AppClient) -> None:
    users: Any = users_admin.app.auth.users  # type: ignore[attr-defined]
    admin_user = await users.create_user("chief", PASSWORD, is_staff=True, is_superuser=True)
    member = await users.create_user("member", PASSWORD, email="m@example.com")
    token = await login(users_admin, admin_user)
    listing = await users_admin.get("/admin/auth/user/", params={"is_staff": "false"})
    assert listing.status_code == 200
    assert ">member</a>" in listing.text
    assert ">chief</a>" not in listing.text
    form = await users_admin.get(f"/admin/auth/user/{member.id}/change/")
    assert form.status_code == 200
    assert "$argon2" not in form.text
    assert 'name="password"' not in form.text
    assert 'name="groups"' in form.text
    response = await users_admin.post(
        f"/admin/auth/user/{member.id}/change/",
        data={
            "csrf_token": token,
            "username": "member",
            "email": "m@example.com",
            "is_active": "true",
            "is_staff": "true",
        },
    )
    assert response.status_code == 303, response.text
    refreshed = await users.get(member.id)
    assert refreshed.is_staff is True
    assert await users.verify_password(refreshed, PASSWORD)  # the hash is untouched
    history = await users_admin.get(f"/admin/auth/user/{member.id}/history/")
    assert re.search(r"<td>is_staff</td>", history.text)


async def test_groups_page(users_admin: AppClient) -> None:
    users: Any = users_admin.app.auth.users  # type: ignore[attr-defined]
    chief = await users.create_user("chief2", PASSWORD, is_staff=True, is_superuser=True)
    token = await login(users_admin, chief)
    created = await users_admin.post(
        "/admin/auth/group/add/", data={"csrf_token": token, "name": "editors"}
    )
    assert created.status_code == 303, created.text
    assert ">editors</a>" in (await users_admin.get("/admin/auth/group/")).text
