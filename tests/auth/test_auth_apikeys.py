"""API keys over HTTP: generation shown once, HMAC-first verification, revocation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from test_auth_flows import GOOD, login, make_app

from stellate.auth import Auth
from stellate.core.testing import AppClient
from stellate.orm import QueryEvent


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with AppClient(make_app()) as http:
        await http.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        yield http


async def new_key(client: AppClient) -> tuple[str, str, int]:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    user = await auth.users.create_user(f"keyed-{uuid.uuid4().hex[:8]}", GOOD, is_staff=True)
    token = await login(client, user.username)
    response = await client.post(
        "/auth/api-keys", json={"name": "ci"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    client.cookies.clear()  # from here on, only the key authenticates
    return body["raw_key"], body["key"]["id"], user.id


async def test_generated_key_authenticates_bearer_and_header(client: AppClient) -> None:
    raw_key, _, user_id = await new_key(client)
    assert raw_key.startswith("sk_")
    bearer = await client.post("/items", headers={"Authorization": f"Bearer {raw_key}"})
    assert bearer.json() == {"created_by": user_id}
    header = await client.post("/publish", headers={"X-API-Key": raw_key})
    assert header.json() == {"published": True}  # the key's user is staff


async def test_raw_key_is_never_shown_again_nor_stored(client: AppClient) -> None:
    raw_key, key_id, _ = await new_key(client)
    listing = await client.get("/auth/api-keys", headers={"X-API-Key": raw_key})
    assert listing.status_code == 200
    keys = listing.json()["keys"]
    assert [k["id"] for k in keys] == [key_id]
    assert keys[0]["display"].endswith(raw_key[-4:])
    assert raw_key not in listing.text
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    stored = await auth.api_keys.db.fetchrow(
        f"SELECT * FROM {auth.api_keys.table} WHERE id = $1", key_id
    )
    parsed = auth.api_keys.parse(raw_key)
    assert parsed is not None
    secret = parsed[1]
    row_text = " ".join(str(value) for value in stored.values())
    assert raw_key not in row_text
    assert secret not in row_text


@pytest.mark.parametrize(
    "forge",
    [
        # A character inside the signature (the last one only carries padding bits).
        lambda key: key[:-10] + ("A" if key[-10] != "A" else "B") + key[-9:],
        lambda key: key.replace("sk_", "sk_9", 1),  # unknown key version
        lambda key: "sk_" + "x" * 60,
    ],
)
async def test_forged_key_costs_no_query(client: AppClient, forge: object) -> None:
    raw_key, _, _ = await new_key(client)
    seen: list[str] = []

    def observe(event: QueryEvent) -> None:
        seen.append(event.sql)

    remove = client.app.db.add_observer(observe)  # type: ignore[attr-defined]
    try:
        response = await client.post("/items", headers={"X-API-Key": forge(raw_key)})  # type: ignore[operator]
    finally:
        remove()
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Invalid, revoked or expired API key")
    assert seen == []


async def test_revoked_key_is_refused(client: AppClient) -> None:
    raw_key, key_id, _ = await new_key(client)
    revoke = await client.delete(f"/auth/api-keys/{key_id}", headers={"X-API-Key": raw_key})
    assert revoke.json() == {"revoked": key_id}
    after = await client.post("/items", headers={"X-API-Key": raw_key})
    assert after.status_code == 401
    again = await client.delete(f"/auth/api-keys/{key_id}", headers={"X-API-Key": raw_key})
    assert again.status_code == 401


async def test_last_used_is_recorded(client: AppClient) -> None:
    raw_key, _, user_id = await new_key(client)
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    assert (await auth.api_keys.list_for_user(user_id))[0].last_used_at is None
    assert (await client.post("/items", headers={"X-API-Key": raw_key})).status_code == 200
    assert (await auth.api_keys.list_for_user(user_id))[0].last_used_at is not None


async def test_key_of_another_app_secret_is_refused(client: AppClient) -> None:
    raw_key, _, _ = await new_key(client)
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    assert auth.api_keys.parse(raw_key) is not None
    from stellate.auth.apikeys import APIKeyStore
    from stellate.core.signing import SigningKey, TokenEngine

    other = APIKeyStore(TokenEngine([SigningKey("another-app-" + "s" * 30, version=1)]))
    assert other.parse(raw_key) is None
