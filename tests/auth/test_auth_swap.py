"""Swapping the user model (STELLATE_AUTH_USER_MODEL): login, createsuperuser, load_user."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner

from stellate.auth import Auth, load_user
from stellate.auth.models import User
from stellate.core import App, Request, StartupError
from stellate.core.testing import AppClient
from stellate.orm import Field, get_db

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GOOD = "violet tractor under the sea"
RUN = uuid.uuid4().hex[:8]


class SwapMember(User):
    """The app's own user: the built-in fields plus its own."""

    class Meta:
        table = f"swap_members_{RUN}"

    nickname: str = Field(default="")
    shoe_size: int = Field()


def settings(user_model: str = f"{__name__}:SwapMember") -> dict[str, object]:
    return {
        "orm": {"database_url": URL, "embedded_database": False},
        "auth": {"password_profile": "owasp-minimum", "user_model": user_model},
        "secret_key": "swap-test-secret-" + "k" * 32,
    }


def make_app() -> App:
    app = App(plugins=["orm", "auth"], settings=settings())

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        user = await load_user(request)
        return {"class": type(user).__name__, "nickname": user.nickname, "shoe": user.shoe_size}

    return app


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with AppClient(make_app()) as http:
        await auth_of(http).throttle.reset(ip="127.0.0.1")
        yield http


@pytest.fixture(scope="module", autouse=True)
async def drop_tables() -> AsyncIterator[None]:
    yield
    async with AppClient(make_app()):
        db = get_db()
        table = SwapMember._meta.table
        for name in (f"{table}_groups", f"{table}_permissions"):
            await db.execute(f"DROP TABLE IF EXISTS {name}")
        await db.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def auth_of(client: AppClient) -> Auth:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    return auth


async def test_swapped_model_logs_in_and_load_user_returns_it(client: AppClient) -> None:
    auth = auth_of(client)
    assert auth.user_model is SwapMember
    assert auth.users.users == SwapMember._meta.table
    username = f"mem-{uuid.uuid4().hex[:6]}"
    user = await auth.users.create_user(
        username, GOOD, extra={"nickname": "Mo", "shoe_size": 43}, groups=[f"runners-{RUN}"]
    )
    await auth.users.grant("auth.view_user", group=f"runners-{RUN}")
    assert user.permissions == []
    assert user.groups == [f"runners-{RUN}"]
    response = await client.post("/auth/login", json={"username": username, "password": GOOD})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["permissions"] == ["auth.view_user"]
    assert (await client.get("/whoami")).json() == {
        "class": "SwapMember",
        "nickname": "Mo",
        "shoe": 43,
    }
    member = await SwapMember.objects.filter(username=username).first()
    assert member is not None
    assert member.shoe_size == 43
    assert await member.has_perm("auth.view_user")
    assert not await member.has_perm("auth.change_user")
    assert "password" not in member.to_dict()
    key = await auth.api_keys.generate(user_id=user.id)
    client.cookies.clear()
    via_key = await client.get("/auth/me", headers={"X-API-Key": key.raw_key})
    assert via_key.json()["user"]["username"] == username


async def test_extra_fields_are_checked_and_defaulted(client: AppClient) -> None:
    users = auth_of(client).users
    with pytest.raises(ValueError, match="requires `shoe_size`: pass them in `extra=`"):
        await users.create_user(f"m-{uuid.uuid4().hex[:6]}", GOOD)
    with pytest.raises(ValueError, match=r"Unknown user field.*`hat`.*`nickname`, `shoe_size`"):
        await users.create_user(f"m-{uuid.uuid4().hex[:6]}", GOOD, extra={"hat": 1})
    created = await users.create_user(f"m-{uuid.uuid4().hex[:6]}", GOOD, extra={"shoe_size": 40})
    member = await SwapMember.objects.filter(pk=created.id).first()
    assert member is not None
    assert member.nickname == ""


def test_createsuperuser_fills_the_models_own_fields() -> None:
    runner = CliRunner()
    username = f"root-{uuid.uuid4().hex[:6]}"
    given = runner.invoke(
        make_app().commands["createsuperuser"],
        ["--username", username, "--email", "", "--password", GOOD, "--field", "shoe_size=44"],
    )
    assert given.exit_code == 0, given.output
    prompted = runner.invoke(
        make_app().commands["createsuperuser"],
        ["--username", username + "b", "--email", "", "--password", GOOD],
        input="45\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "Shoe size" in prompted.output
    bad = runner.invoke(
        make_app().commands["createsuperuser"],
        [
            "--username",
            username + "c",
            "--email",
            "",
            "--password",
            GOOD,
            "--field",
            "shoe_size=big",
        ],
    )
    assert bad.exit_code != 0
    assert "`big` is not a valid `shoe_size`" in bad.output


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("nowhere.models:Member", "cannot be imported"),
        (f"{__name__}:settings", "is not a subclass of stellate.auth.models.User"),
        ("stellate.auth.models:User", "is not a subclass of stellate.auth.models.User"),
    ],
)
def test_bad_user_model_setting_is_reported(path: str, fragment: str) -> None:
    with pytest.raises(StartupError) as info:
        App(plugins=["orm", "auth"], settings=settings(path))
    assert "STELLATE_AUTH_USER_MODEL" in str(info.value)
    assert fragment in str(info.value)
