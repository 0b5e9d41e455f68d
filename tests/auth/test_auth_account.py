"""Password reset and e-mail verification by signed tokens; login signals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_auth_flows import GOOD, login, make_app

from stellate.auth import (
    Auth,
    MemoryMailer,
    SecurityEvent,
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from stellate.core.testing import AppClient

NEW = "a completely different passphrase"


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with AppClient(make_app()) as http:
        await http.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        http.app.auth.mailer = MemoryMailer()  # type: ignore[attr-defined]
        yield http


def auth_of(client: AppClient) -> Auth:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    return auth


def outbox(client: AppClient) -> list[Any]:
    mailer = auth_of(client).mailer
    assert isinstance(mailer, MemoryMailer)
    return mailer.outbox


async def test_password_reset_end_to_end_and_single_use(client: AppClient) -> None:
    auth = auth_of(client)
    username = f"rita-{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.com"
    await auth.users.create_user(username, GOOD, email=email)
    async with AppClient(make_app()) as other_device:
        other_token = await login(other_device, username)

        asked = await client.post("/auth/password-reset", json={"email": email.upper()})
        assert asked.status_code == 202
        [message] = outbox(client)
        assert message.to == email
        link = next(line for line in message.body.splitlines() if line.startswith("http"))
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert GOOD not in message.body

        weak = await client.post(
            "/auth/password-reset/confirm", json={"token": token, "new_password": "123"}
        )
        assert weak.status_code == 422
        done = await client.post(
            "/auth/password-reset/confirm", json={"token": token, "new_password": NEW}
        )
        assert done.status_code == 200
        assert done.json()["changed"] is True
        # Every session of the account ended.
        gone = await other_device.post("/items", headers={"X-CSRF-Token": other_token})
        assert gone.status_code == 401

    again = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW + " again"}
    )
    assert again.status_code == 400
    assert "invalid, expired or already used" in again.json()["detail"]
    await login(client, username, NEW)
    user = await auth.users.get_by_username(username)
    assert user is not None
    events = [e.event for e in await auth.security_log.get_for_user(user.id)]
    assert SecurityEvent.PASSWORD_CHANGED in events


async def test_reset_request_does_not_reveal_accounts(client: AppClient) -> None:
    response = await client.post("/auth/password-reset", json={"email": "nobody@nowhere.test"})
    assert response.status_code == 202
    assert response.json()["detail"].startswith("If an account matches")
    assert outbox(client) == []
    missing = await client.post("/auth/password-reset", json={})
    assert missing.status_code == 422


async def test_forged_or_cross_purpose_reset_token_is_refused(client: AppClient) -> None:
    auth = auth_of(client)
    username = f"sam-{uuid.uuid4().hex[:8]}"
    user = await auth.users.create_user(username, GOOD, email=f"{username}@example.com")
    verification = auth.tokens.email_verification_token(user)  # another purpose
    for token in ["garbage", verification, auth.tokens.password_reset_token(user)[:-6] + "AAAAAA"]:
        response = await client.post(
            "/auth/password-reset/confirm", json={"token": token, "new_password": NEW}
        )
        assert response.status_code == 400, token


async def test_email_verification(client: AppClient) -> None:
    auth = auth_of(client)
    username = f"tess-{uuid.uuid4().hex[:8]}"
    await auth.users.create_user(username, GOOD, email=f"{username}@example.com")
    csrf = await login(client, username)
    sent = await client.post("/auth/verify-email", headers={"X-CSRF-Token": csrf})
    assert sent.status_code == 202
    token = outbox(client)[-1].body.splitlines()[-1]
    wrong = await client.post(
        "/auth/verify-email/confirm", json={"token": token + "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert wrong.status_code == 400
    ok = await client.post(
        "/auth/verify-email/confirm", json={"token": token}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.json() == {"email_verified": True}
    user = await auth.users.get_by_username(username)
    assert user is not None
    assert user.email_verified is True


async def test_signals_are_sent_without_passwords(client: AppClient) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def on_in(sender: Any, **kwargs: Any) -> None:
        seen.append(("in", kwargs))

    async def on_out(sender: Any, **kwargs: Any) -> None:
        seen.append(("out", kwargs))

    async def on_failed(sender: Any, **kwargs: Any) -> None:
        seen.append(("failed", kwargs))

    user_logged_in.connect(on_in)
    user_logged_out.connect(on_out)
    user_login_failed.connect(on_failed)
    try:
        username = f"uma-{uuid.uuid4().hex[:8]}"
        await auth_of(client).users.create_user(username, GOOD)
        bad = await client.post(
            "/auth/login", json={"username": username, "password": "wrong password!"}
        )
        assert bad.status_code == 401
        csrf = await login(client, username)
        await client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    finally:
        user_logged_in.disconnect(on_in)
        user_logged_out.disconnect(on_out)
        user_login_failed.disconnect(on_failed)
    assert [kind for kind, _ in seen] == ["failed", "in", "out"]
    assert seen[0][1]["username"] == username
    assert seen[1][1]["user"].username == username
    assert all("password" not in kwargs for _, kwargs in seen)
