"""Model permissions: created by `stellate migrate`, checked by has_perm, REST and hooks."""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner

from stellate.auth import Auth, AuthPlugin, Principal
from stellate.auth.models import User
from stellate.auth.permissions import model_permissions, permission_label
from stellate.auth.view_permissions import HasPermission
from stellate.core import App, Request
from stellate.core.cli import cli
from stellate.core.testing import AppClient
from stellate.orm import Field, Model, get_db
from stellate.orm.schema import create_table_sql

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GOOD = "violet tractor under the sea"
RUN = uuid.uuid4().hex[:8]


class PermNote(Model):
    """A row owned by a user: owners may change their own notes (object hook)."""

    class Meta:
        table = f"perm_notes_{RUN}"

    id: int = Field(primary_key=True, auto=True)
    author: int = Field()
    title: str = Field()
    locked: bool = Field(default=False)

    def has_object_permission(self, user: Any, codename: str) -> bool | None:
        if codename.endswith("_permnote") and self.author == user["id"]:
            return True
        return None


def no_locked_notes(user: Any, codename: str, obj: Any) -> bool | None:
    """An app-level hook: locked notes cannot be changed or deleted by anyone but superusers."""
    if getattr(obj, "locked", False) and not codename.endswith(("view_permnote",)):
        return False
    return None


def make_app(*extra_plugins: str) -> App:
    app = App(
        plugins=[*extra_plugins, "orm", AuthPlugin(object_permission_hooks=[no_locked_notes])],
        settings={
            "orm": {"database_url": URL, "embedded_database": False},
            "auth": {"password_profile": "owasp-minimum", "recheck_interval": 0},
            "secret_key": "permissions-test-secret-" + "k" * 32,
        },
    )

    @app.post("/login-as/{user_id:int}")
    async def login_as(request: Request, user_id: int) -> dict[str, object]:
        user = await User.objects.filter(pk=user_id).first()
        return {"user": await app.auth.sessions.login(request, user)}

    return app


@asynccontextmanager
async def serving(app: App) -> AsyncIterator[AppClient]:
    """``app`` under test, with the notes table and an unlocked test address."""
    async with AppClient(app) as http:
        db = get_db()
        if not await db.fetchval("SELECT to_regclass($1)", PermNote._meta.table):
            for sql in create_table_sql(PermNote):
                await db.execute(sql)
        await auth_of(http).throttle.reset(ip="127.0.0.1")
        yield http


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with serving(make_app()) as http:
        yield http


def auth_of(client: AppClient) -> Auth:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    return auth


async def login(client: AppClient, username: str) -> str:
    client.cookies.clear()
    response = await client.post("/auth/login", json={"username": username, "password": GOOD})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


def test_codenames_follow_the_admin_app_label() -> None:
    assert permission_label(User) == "auth"
    assert model_permissions(User) == [
        ("auth.add_user", "Can add user"),
        ("auth.change_user", "Can change user"),
        ("auth.delete_user", "Can delete user"),
        ("auth.view_user", "Can view user"),
    ]
    assert permission_label(PermNote) == "test_auth_permissions"
    with pytest.raises(ValueError, match="must look like `<app>"):
        HasPermission("publish")


async def test_user_has_perm_through_groups_and_directly(client: AppClient) -> None:
    auth = auth_of(client)
    assert await auth.sync_permissions([User, PermNote]) >= 0
    assert await auth.sync_permissions([User, PermNote]) == 0  # idempotent
    group = f"editors-{RUN}-{secrets.token_hex(3)}"
    await auth.users.grant("auth.change_user", group=group)
    record = await auth.users.create_user(f"ed-{secrets.token_hex(4)}", GOOD, groups=[group])
    await auth.users.grant("auth.view_user", user_id=record.id)
    user = await User.objects.filter(pk=record.id).first()
    assert user is not None
    assert await user.has_perm("auth.change_user")
    assert await user.has_perm("auth.view_user")
    assert not await user.has_perm("auth.delete_user")
    assert await user.get_all_permissions() == {"auth.change_user", "auth.view_user"}
    user.is_active = False
    assert not await user.has_perm("auth.change_user")
    boss = await auth.users.create_user(f"boss-{secrets.token_hex(4)}", GOOD, is_superuser=True)
    boss_model = await User.objects.filter(pk=boss.id).first()
    assert boss_model is not None
    assert await boss_model.has_perm("auth.delete_user")


async def test_object_hooks_decide_before_the_model_permission(client: AppClient) -> None:
    auth = auth_of(client)
    owner = await auth.users.create_user(f"own-{secrets.token_hex(4)}", GOOD)
    other = await auth.users.create_user(f"oth-{secrets.token_hex(4)}", GOOD)
    mine = PermNote(author=owner.id, title="mine")
    locked = PermNote(author=owner.id, title="locked", locked=True)
    change = "test_auth_permissions.change_permnote"
    assert await auth.users.has_perm(owner.principal(), change, mine)  # the model's hook
    assert not await auth.users.has_perm(other.principal(), change, mine)  # model-level: no
    assert not await auth.users.has_perm(owner.principal(), change, locked)  # the app hook
    assert not await auth.users.has_perm(owner.principal(), change)  # no object: model-level
    await auth.users.grant(change, user_id=other.id)
    assert await auth.users.has_perm(other.principal(), change, mine)
    model_user = await User.objects.filter(pk=owner.id).first()
    assert model_user is not None
    assert await model_user.has_perm(change, obj=mine)

    def coroutine_hook(user: Any, codename: str, obj: Any) -> Any:
        return asyncio.sleep(0)

    auth.users.object_permission_hooks = (coroutine_hook,)
    with pytest.raises(TypeError, match="hooks are plain functions, not coroutines"):
        await auth.users.has_perm(owner.principal(), change, mine)
    auth.users.object_permission_hooks = (no_locked_notes,)


async def test_principal_carries_permissions_and_grants_reach_live_sessions(
    client: AppClient,
) -> None:
    auth = auth_of(client)
    user = await auth.users.create_user(f"live-{secrets.token_hex(4)}", GOOD)
    token = await login(client, user.username)
    me = (await client.get("/auth/me")).json()["user"]
    assert me["permissions"] == []
    await auth.users.grant("test_auth_permissions.view_permnote", user_id=user.id)
    me = (await client.get("/auth/me")).json()["user"]  # recheck_interval=0: next request
    assert me["permissions"] == ["test_auth_permissions.view_permnote"]
    principal = Principal.from_data(me)
    assert principal.has_perm("test_auth_permissions.view_permnote")
    assert not principal.has_perm("test_auth_permissions.add_permnote")
    assert Principal(id=1, username="root", is_superuser=True).has_perm("anything.at_all")
    assert token


# -- `stellate migrate` creates the permissions (post_migrate hook) ----------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    name = f"permdb_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = URL.rsplit("/", 1)[0] + "/" + name
    tag = secrets.token_hex(3)
    models = f"permproj_models_{tag}"
    (tmp_path / f"{models}.py").write_text(
        textwrap.dedent(
            f"""
            from stellate.orm import Field, Model

            class Shelf{tag}(Model):
                class Meta:
                    table = "shelves"

                id: int = Field(primary_key=True, auto=True)
                name: str = Field()
            """
        )
    )
    (tmp_path / f"permproj_app_{tag}.py").write_text(
        textwrap.dedent(
            f"""
            from stellate.core import App, Request

            app = App(
                plugins=["orm", "auth"],
                settings={{"orm": {{"database_url": {url!r}, "embedded_database": False}}}},
            )
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STELLATE_MODELS", models)
    monkeypatch.setenv("STELLATE_DATABASE_URL", url)
    yield {"url": url, "app": f"permproj_app_{tag}:app", "tag": tag, "models": models}
    for module in (models, f"permproj_app_{tag}"):
        sys.modules.pop(module, None)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _permissions(url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT codename, name FROM stellate_permissions")
        finally:
            await conn.close()
        return {row["codename"]: row["name"] for row in rows}

    return asyncio.run(read())


def test_migrate_creates_and_repairs_each_models_permissions(project: dict[str, str]) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["--app", project["app"], "makemigrations"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    migrated = runner.invoke(cli, ["--app", project["app"], "migrate"], catch_exceptions=False)
    assert migrated.exit_code == 0, migrated.output
    label, model = project["models"].lower(), f"shelf{project['tag']}"
    held = _permissions(project["url"])
    assert {f"{label}.{verb}_{model}" for verb in ("add", "change", "delete", "view")} <= set(held)
    assert held[f"{label}.add_{model}"] == f"Can add {model}"

    async def rename() -> None:
        conn = await asyncpg.connect(project["url"])
        try:
            await conn.execute("UPDATE stellate_permissions SET name = 'stale'")
        finally:
            await conn.close()

    asyncio.run(rename())
    again = runner.invoke(cli, ["--app", project["app"], "migrate"], catch_exceptions=False)
    assert "Nothing to migrate" in again.output
    assert _permissions(project["url"])[f"{label}.add_{model}"] == f"Can add {model}"
    dry = runner.invoke(cli, ["--app", project["app"], "migrate", "--dry-run"])
    assert dry.exit_code == 0, dry.output


async def test_login_with_a_model_instance_carries_the_stored_permissions(
    client: AppClient,
) -> None:
    auth = auth_of(client)
    record = await auth.users.create_user(f"inst-{secrets.token_hex(4)}", GOOD)
    await auth.users.grant("test_auth_permissions.view_permnote", user_id=record.id)
    body = (await client.post(f"/login-as/{record.id}")).json()
    assert body["user"]["permissions"] == ["test_auth_permissions.view_permnote"]


def test_post_migrate_hooks_at_once_take_turns(project: dict[str, str]) -> None:
    # Two deploys migrating together: without a lock their CREATE TABLE IF NOT EXISTS
    # collide in pg_type (duplicate key) nearly every time.
    app = importlib.import_module(project["app"].split(":")[0]).app
    (plugin,) = [p for p in app.plugins if isinstance(p, AuthPlugin)]

    async def together() -> None:
        await asyncio.gather(*(plugin.post_migrate(app, project["url"]) for _ in range(3)))

    asyncio.run(together())
    asyncio.run(together())  # and again, over the tables now in place
    assert _permissions(project["url"]) == {}  # the model's table does not exist yet
