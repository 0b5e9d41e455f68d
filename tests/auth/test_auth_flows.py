"""The auth plugin end to end: App(plugins=["orm", "auth"]) over HTTP on real PostgreSQL."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner

import stellate.auth
from stellate.auth import (
    Auth,
    AuthPlugin,
    PasswordHasher,
    SecurityEvent,
    load_user,
    permission_required,
    require_auth,
    staff_required,
)
from stellate.core import App, Request
from stellate.core.testing import AppClient, PluginContract

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GOOD = "violet tractor under the sea"
SETTINGS: dict[str, object] = {
    "orm": {"database_url": URL, "embedded_database": False},
    "auth": {"login_limit": 3, "password_profile": "owasp-minimum"},
    "secret_key": "flows-test-secret-" + "k" * 32,
}


def make_app() -> App:
    app = App(plugins=["orm", "auth"], settings=SETTINGS)

    @app.post("/items")
    async def create_item(request: Request) -> dict[str, object]:
        user = require_auth(request)
        return {"created_by": user["id"]}

    @app.get("/profile")
    async def profile(request: Request) -> dict[str, object]:
        user = await load_user(request)
        return {"email": None if user is None else user.email}

    @app.post("/publish")
    @staff_required
    async def publish(request: Request) -> dict[str, bool]:
        return {"published": True}

    @app.post("/books/change")
    @permission_required("books.change_book")
    async def change_book(request: Request) -> dict[str, bool]:
        return {"changed": True}

    return app


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with AppClient(make_app()) as http:
        # Every test client is 127.0.0.1: start each test with that address unlocked.
        await auth_of(http).throttle.reset(ip="127.0.0.1")
        yield http


def auth_of(client: AppClient) -> Auth:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    return auth


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def login(client: AppClient, username: str, password: str = GOOD) -> str:
    # Logging in over a live session is a cookie-authenticated POST that would need the
    # CSRF token; start from a fresh browser instead.
    client.cookies.clear()
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


async def test_login_me_and_writes(client: AppClient) -> None:
    auth = auth_of(client)
    username = name("alice")
    user = await auth.users.create_user(username, GOOD, groups=["editors"])
    assert (await client.get("/auth/me")).status_code == 401
    assert (await client.post("/items")).status_code == 401

    token = await login(client, username.upper())  # usernames are case-insensitive
    me = (await client.get("/auth/me")).json()["user"]
    assert me == {
        "id": user.id,
        "username": username,
        "is_staff": False,
        "is_superuser": False,
        "groups": ["editors"],
        "permissions": [],
    }
    created = await client.post("/items", headers={"X-CSRF-Token": token})
    assert created.json() == {"created_by": user.id}
    # Not staff: 403, and the denial is logged.
    assert (await client.post("/publish", headers={"X-CSRF-Token": token})).status_code == 403
    events = {e.event for e in await auth.security_log.get_for_user(user.id)}
    assert {SecurityEvent.LOGIN_SUCCESS, SecurityEvent.PERMISSION_DENIED} <= events

    logout = await client.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert logout.json() == {"logged_out": True}
    assert (await client.get("/auth/me")).status_code == 401


async def test_wrong_password_and_unknown_user_look_the_same(client: AppClient) -> None:
    auth = auth_of(client)
    username = name("bob")
    await auth.users.create_user(username, GOOD)
    wrong = await client.post("/auth/login", json={"username": username, "password": "nope" * 3})
    unknown = await client.post("/auth/login", json={"username": name("ghost"), "password": GOOD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Invalid username or password"}
    failed = await auth.security_log.get_by_event(SecurityEvent.LOGIN_FAILED, since_hours=1)
    assert any(e.detail == f"user={username}" for e in failed)
    # Neither the response nor the log holds the password.
    assert "nope" not in wrong.text
    assert all("nope" not in e.detail for e in failed)


async def test_load_user_gives_the_full_row(client: AppClient) -> None:
    username = name("ivy")
    await auth_of(client).users.create_user(username, GOOD, email=f"{username}@example.com")
    assert (await client.get("/profile")).json() == {"email": None}
    await login(client, username)
    assert (await client.get("/profile")).json() == {"email": f"{username}@example.com"}


async def test_no_log_line_or_response_holds_the_password(
    client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Unmistakable-Secret-Passphrase-42"
    username = name("jay")
    caplog.set_level(logging.DEBUG)
    await auth_of(client).users.create_user(username, secret)
    bodies = []
    for password in (secret + "x", secret):
        response = await client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        bodies.append(response.text)
    token = response.json()["csrf_token"]
    changed = await client.post(
        "/auth/password",
        json={"old_password": secret, "new_password": secret + " renewed"},
        headers={"X-CSRF-Token": token},
    )
    bodies.append(changed.text)
    assert all(secret not in body for body in bodies)
    assert all(secret not in record.getMessage() for record in caplog.records)
    events = await auth_of(client).security_log.get_recent(limit=200)
    assert all(secret not in event.detail for event in events)


async def test_missing_fields_are_named(client: AppClient) -> None:
    response = await client.post("/auth/login", json={"username": "x"})
    assert response.status_code == 422
    assert response.json()["detail"] == "Missing or empty field(s): `password`"


async def test_form_login_works(client: AppClient) -> None:
    username = name("form")
    await auth_of(client).users.create_user(username, GOOD)
    response = await client.post("/auth/login", data={"username": username, "password": GOOD})
    assert response.status_code == 200


async def test_throttling_locks_out_with_retry_after_and_reset_lifts_it(client: AppClient) -> None:
    auth = auth_of(client)
    username = name("carol")
    await auth.users.create_user(username, GOOD)
    await auth.throttle.reset(ip="127.0.0.1")
    for _ in range(3):
        response = await client.post("/auth/login", json={"username": username, "password": "bad"})
        assert response.status_code == 401
    # Locked: even the right password is refused until the lockout ends.
    locked = await client.post("/auth/login", json={"username": username, "password": GOOD})
    assert locked.status_code == 429
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    assert f"try again in {retry_after} seconds" in locked.json()["detail"]
    hits = await auth.security_log.get_by_event(SecurityEvent.RATE_LIMIT_HIT, since_hours=1)
    assert any(username in e.detail for e in hits)
    # Another worker (another app instance) sees the same lock: it is in PostgreSQL.
    async with AppClient(make_app()) as other:
        again = await other.post("/auth/login", json={"username": username, "password": GOOD})
        assert again.status_code == 429
    await auth.throttle.reset(ip="127.0.0.1", username=username)
    await login(client, username)


async def test_address_lockout_spans_usernames(client: AppClient) -> None:
    from stellate.auth import LoginThrottle

    throttle = LoginThrottle(limit=5, ip_limit=2, database=client.app.db)  # type: ignore[attr-defined]
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    await throttle.reset(ip=ip)
    assert await throttle.failure(ip, name("a")) is None
    assert await throttle.retry_after(ip, name("b")) is None
    assert await throttle.failure(ip, name("c")) == 15 * 60
    # Any username from that address now waits; the same username elsewhere does not.
    assert await throttle.retry_after(ip, name("d")) is not None
    assert await throttle.retry_after("203.0.113.9", name("e")) is None
    await throttle.reset(ip=ip)
    assert await throttle.retry_after(ip, name("f")) is None
    with pytest.raises(ValueError, match="`ip_limit` must be at least 1, got `0`"):
        LoginThrottle(ip_limit=0)


async def test_password_change_validates_and_ends_other_sessions(client: AppClient) -> None:
    auth = auth_of(client)
    username = name("dave")
    await auth.users.create_user(username, GOOD)
    async with AppClient(make_app()) as phone:
        phone_token = await login(phone, username)
        token = await login(client, username)
        weak = await client.post(
            "/auth/password",
            json={"old_password": GOOD, "new_password": "12345678"},
            headers={"X-CSRF-Token": token},
        )
        assert weak.status_code == 422
        messages = weak.json()["detail"]["new_password"]
        assert any("too short" in m for m in messages)
        assert any("entirely numeric" in m for m in messages)
        wrong_old = await client.post(
            "/auth/password",
            json={"old_password": "not it at all", "new_password": "a brand new passphrase"},
            headers={"X-CSRF-Token": token},
        )
        assert wrong_old.status_code == 400
        changed = await client.post(
            "/auth/password",
            json={"old_password": GOOD, "new_password": "a brand new passphrase"},
            headers={"X-CSRF-Token": token},
        )
        assert changed.status_code == 200
        new_token = changed.json()["csrf_token"]
        # This session continues (under a new id and token); the phone's is gone.
        assert (await client.post("/items", headers={"X-CSRF-Token": new_token})).status_code == 200
        assert (
            await phone.post("/items", headers={"X-CSRF-Token": phone_token})
        ).status_code == 401
    await login(client, username, "a brand new passphrase")


async def test_outdated_hash_is_upgraded_at_login(client: AppClient) -> None:
    auth = auth_of(client)
    username = name("erin")
    user = await auth.users.create_user(username, None)
    # A hash made with other parameters, as an older deployment would have stored.
    old_hash = PasswordHasher("rfc9106-low-memory").hash(GOOD)
    await auth.users.db.execute(
        f"UPDATE {auth.users.users} SET password = $2 WHERE id = $1", user.id, old_hash
    )
    await login(client, username)
    stored = await auth.users.db.fetchval(
        f"SELECT password FROM {auth.users.users} WHERE id = $1", user.id
    )
    assert stored != old_hash
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_staff_and_permissions(client: AppClient) -> None:
    auth = auth_of(client)
    staff, editor, nobody = name("staff"), name("editor"), name("nobody")
    await auth.users.create_user(staff, GOOD, is_staff=True)
    group = name("editors")
    await auth.users.grant("books.change_book", group=group)
    await auth.users.create_user(editor, GOOD, groups=[group])
    await auth.users.create_user(nobody, GOOD)

    token = await login(client, staff)
    assert (await client.post("/publish", headers={"X-CSRF-Token": token})).json() == {
        "published": True
    }
    denied = await client.post("/books/change", headers={"X-CSRF-Token": token})
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Permission `books.change_book` required"}

    token = await login(client, editor)
    ok = await client.post("/books/change", headers={"X-CSRF-Token": token})
    assert ok.json() == {"changed": True}
    token = await login(client, nobody)
    assert (await client.post("/books/change", headers={"X-CSRF-Token": token})).status_code == 403
    client.cookies.clear()
    assert (await client.post("/books/change")).status_code == 401


async def test_weak_password_refused_at_creation(client: AppClient) -> None:
    users = auth_of(client).users
    with pytest.raises(stellate.auth.PasswordValidationError) as info:
        await users.create_user(name("frank"), "password123")
    assert any("most commonly used" in m for m in info.value.messages)
    username = name("gina")
    await users.create_user(username, GOOD)
    with pytest.raises(stellate.auth.UserExistsError, match=f"`{username.upper()}` already"):
        await users.create_user(username.upper(), GOOD)


async def test_user_json_never_contains_the_hash(client: AppClient) -> None:
    from stellate.core.responses import encode_json

    user = await auth_of(client).users.create_user(name("hal"), GOOD)
    assert b"argon2" not in encode_json(user)
    assert "argon2" not in repr(user)


def test_createsuperuser_and_changepassword_commands() -> None:
    app = make_app()
    username = name("root")
    runner = CliRunner()
    weak = runner.invoke(
        app.commands["createsuperuser"],
        ["--username", username, "--email", "", "--password", "short"],
    )
    assert weak.exit_code != 0
    assert "too short" in weak.output
    created = runner.invoke(
        app.commands["createsuperuser"],
        ["--username", username, "--email", "", "--password", GOOD],
    )
    assert created.exit_code == 0, created.output
    assert f"Superuser `{username}` created" in created.output
    changed = runner.invoke(
        make_app().commands["changepassword"], [username, "--password", "another fine passphrase"]
    )
    assert changed.exit_code == 0, changed.output
    missing = runner.invoke(make_app().commands["changepassword"], ["nobody-x", "--password", GOOD])
    assert missing.exit_code != 0
    assert "No user named `nobody-x`" in missing.output


def test_exports_are_complete_and_sorted() -> None:
    exported = stellate.auth.__all__
    assert exported == sorted(exported)
    for public in exported:
        assert hasattr(stellate.auth, public)


class TestAuthPluginContract(PluginContract):
    plugin_class = AuthPlugin
    requires = ("orm",)
    # No `auth` section: the contract also builds the app without the plugin.
    settings = {"orm": SETTINGS["orm"], "secret_key": SETTINGS["secret_key"]}  # noqa: RUF012


@pytest.mark.parametrize(
    ("auth_settings", "fragment"),
    [
        ({"login_limit": 0}, "login_limit"),
        ({"password_profile": "fast"}, "`rfc9106-low-memory`"),
        ({"cors_origins": ["*"]}, "CORS origins cannot contain `*`"),
    ],
)
def test_bad_plugin_settings_are_reported(auth_settings: dict[str, object], fragment: str) -> None:
    from stellate.core import StartupError

    settings = {**SETTINGS, "auth": auth_settings}
    with pytest.raises(StartupError) as info:
        App(plugins=["orm", "auth"], settings=settings)
    assert fragment in str(info.value)
    assert "auth" in str(info.value)


def test_session_secrets_rotate_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "STELLATE_AUTH_SESSION_SECRET", "new-secret-" + "n" * 30 + ",old-" + "o" * 30
    )
    app = App(plugins=["orm", "auth"], settings=SETTINGS)
    engine = app.auth.sessions.engine  # type: ignore[attr-defined]
    assert [key.version for key in engine.keys] == [2, 1]


async def test_logout_reaches_every_worker_at_once(client: AppClient) -> None:
    """Two app instances (two workers): a logout on one stops the copied cookie on the
    other immediately, for reads too, through LISTEN/NOTIFY."""
    import asyncio

    username = name("kim")
    await auth_of(client).users.create_user(username, GOOD)
    async with AppClient(make_app()) as other_worker:
        token = await login(client, username)
        stolen = client.cookies["stellate_session"]
        copied = {"cookie": f"stellate_session={stolen}"}
        assert (await other_worker.get("/auth/me", headers=copied)).status_code == 200
        assert auth_of(other_worker).sessions._feed.listening
        await client.post("/auth/logout", headers={"X-CSRF-Token": token})
        status = 200
        for _ in range(100):  # the notification arrives within milliseconds
            status = (await other_worker.get("/auth/me", headers=copied)).status_code
            if status == 401:
                break
            await asyncio.sleep(0.01)
        assert status == 401


async def test_a_username_with_nul_fails_like_an_unknown_one_and_still_counts(
    client: AppClient,
) -> None:
    # PostgreSQL text cannot hold NUL: no account can have such a name, but the
    # lookup, the verification and the lockout must not turn it into a database error.
    from stellate.auth import LoginThrottle

    auth = auth_of(client)
    username = name("nul") + "\x00admin"
    assert await auth.users.get_by_username(username) is None
    assert await auth.users.get_by_email("root\x00@example.com") is None
    assert await auth.users.authenticate(username, GOOD) == (None, False)

    throttle = LoginThrottle(limit=2, ip_limit=100, database=client.app.db)  # type: ignore[attr-defined]
    ip = f"198.51.100.{uuid.uuid4().int % 250}"
    assert await throttle.failure(ip, username) is None
    assert await throttle.failure(ip, username) == 15 * 60
    assert await throttle.retry_after("203.0.113.7", username) is not None
    await throttle.reset(ip=ip, username=username)
    assert await throttle.retry_after("203.0.113.7", username) is None
