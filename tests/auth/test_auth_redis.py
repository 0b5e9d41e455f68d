"""Sessions and login throttling in Redis: shared by two app instances, real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("redis", reason="the Redis stores need the stellate-auth[redis] extra")

from stellate.auth import Auth
from stellate.auth.redis_stores import (
    RedisLoginThrottle,
    RedisSessionAuth,
    redis_client,
)
from stellate.auth.sessions import SessionAuth
from stellate.auth.throttle import LoginThrottle
from stellate.core import App, StartupError
from stellate.core.testing import AppClient

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("STELLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GOOD = "violet tractor under the sea"
PREFIX_RUN = uuid.uuid4().hex[:8]


def settings(**auth: object) -> dict[str, object]:
    return {
        "orm": {"database_url": URL, "embedded_database": False},
        "auth": {
            "password_profile": "owasp-minimum",
            "login_limit": 3,
            "redis_url": REDIS_URL,
            **auth,
        },
        "secret_key": "redis-test-secret-" + "k" * 32,
    }


@pytest.fixture
async def two() -> AsyncIterator[tuple[AppClient, AppClient]]:
    """Two instances of one app (two workers): separate processes' state, shared stores."""
    async with (
        AppClient(App(plugins=["orm", "auth"], settings=settings())) as first,
        AppClient(App(plugins=["orm", "auth"], settings=settings())) as second,
    ):
        await auth_of(first).throttle.reset(ip="127.0.0.1")
        yield first, second


def auth_of(client: AppClient) -> Auth:
    auth: Auth = client.app.auth  # type: ignore[attr-defined]
    return auth


async def new_user(client: AppClient) -> str:
    username = f"red-{uuid.uuid4().hex[:8]}"
    await auth_of(client).users.create_user(username, GOOD)
    return username


async def login(client: AppClient, username: str) -> str:
    client.cookies.clear()
    response = await client.post("/auth/login", json={"username": username, "password": GOOD})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


async def refused_soon(client: AppClient, within: float = 5.0) -> bool:
    """Whether the client's session is refused within ``within`` seconds (pub/sub lag)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if (await client.get("/auth/me")).status_code == 401:
            return True
        await asyncio.sleep(0.02)
    return False


def test_postgres_stays_the_default_and_redis_needs_a_url() -> None:
    plain = App(plugins=["orm", "auth"], settings=settings(redis_url=None))
    assert type(plain.auth.sessions) is SessionAuth  # type: ignore[attr-defined]
    assert type(plain.auth.throttle) is LoginThrottle  # type: ignore[attr-defined]
    kept = App(plugins=["orm", "auth"], settings=settings(store="postgres"))
    assert type(kept.auth.sessions) is SessionAuth  # type: ignore[attr-defined]
    chosen = App(plugins=["orm", "auth"], settings=settings())
    assert isinstance(chosen.auth.sessions, RedisSessionAuth)  # type: ignore[attr-defined]
    assert isinstance(chosen.auth.throttle, RedisLoginThrottle)  # type: ignore[attr-defined]
    with pytest.raises(StartupError, match="STELLATE_AUTH_STORE is `redis` but no Redis URL"):
        App(plugins=["orm", "auth"], settings=settings(store="redis", redis_url=None))


async def test_a_session_from_one_instance_works_on_the_other(
    two: tuple[AppClient, AppClient],
) -> None:
    first, second = two
    username = await new_user(first)
    token = await login(first, username)
    cookies = dict(first.cookies)
    second.cookies.update(cookies)
    me = await second.get("/auth/me")
    assert me.json()["user"]["username"] == username
    # The record is a Redis key that expires by itself at the idle timeout.
    sessions = auth_of(first).sessions
    assert isinstance(sessions, RedisSessionAuth)
    keys = [key async for key in sessions.redis.scan_iter(f"{sessions.prefix}session:*")]
    assert keys
    ttl = await sessions.redis.ttl(keys[0])
    assert 0 < ttl <= sessions.idle_timeout
    # Writes on the second instance see the session too (CSRF token from the first).
    refused = await second.post("/auth/logout")
    assert refused.status_code == 403  # no CSRF token: the session is recognised
    logged_out = await second.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert logged_out.json() == {"logged_out": True}
    first.cookies.update(cookies)
    assert await refused_soon(first)


async def test_logout_everywhere_reaches_every_instance_at_once(
    two: tuple[AppClient, AppClient],
) -> None:
    first, second = two
    username = await new_user(first)
    await login(first, username)
    laptop = dict(first.cookies)
    token = await login(second, username)
    assert (await first.get("/auth/me")).status_code == 200  # reads trust the cookie...
    ended = await second.post("/auth/logout-everywhere", headers={"X-CSRF-Token": token})
    assert ended.json() == {"sessions_ended": 2}
    first.cookies.clear()
    first.cookies.update(laptop)
    # ...until the revocation published by the other instance arrives (pub/sub), well
    # before the 10 s recheck interval.
    assert await refused_soon(first)


async def test_lockout_is_shared_and_reset_lifts_it(two: tuple[AppClient, AppClient]) -> None:
    first, second = two
    username = await new_user(first)
    for client in (first, second, first):
        wrong = await client.post("/auth/login", json={"username": username, "password": "no"})
        assert wrong.status_code == 401
    for client in (first, second):
        locked = await client.post("/auth/login", json={"username": username, "password": GOOD})
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["retry-after"]) <= 15 * 60
    await auth_of(second).throttle.reset(username=username, ip="127.0.0.1")
    assert await login(first, username)


async def test_role_changes_reach_live_redis_sessions(two: tuple[AppClient, AppClient]) -> None:
    first, _ = two
    auth = auth_of(first)
    username = await new_user(first)
    token = await login(first, username)
    user = await auth.users.get_by_username(username)
    assert user is not None
    await auth.users.grant(f"redis_{PREFIX_RUN}.view_thing", user_id=user.id)
    # An unsafe request always checks the record (this one then finds no such route).
    checked = await first.post("/auth/csrf", headers={"X-CSRF-Token": token})
    assert checked.status_code == 405
    me = (await first.get("/auth/me")).json()["user"]
    assert me["permissions"] == [f"redis_{PREFIX_RUN}.view_thing"]
    assert await auth.sessions.purge_expired() == 0


async def test_redis_outage_fails_closed_with_503_and_recovers(
    two: tuple[AppClient, AppClient],
) -> None:
    first, _ = two
    auth = auth_of(first)
    sessions, throttle = auth.sessions, auth.throttle
    assert isinstance(sessions, RedisSessionAuth)
    assert isinstance(throttle, RedisLoginThrottle)
    username = await new_user(first)
    token = await login(first, username)
    live_sessions, live_throttle = sessions.redis, throttle.redis
    # Nothing listens on port 1: every Redis call fails as in an outage.
    sessions.redis = redis_client("redis://127.0.0.1:1/0")
    throttle.redis = redis_client("redis://127.0.0.1:1/0")
    try:
        # Reads within the recheck interval trust the signed cookie: still served.
        assert (await first.get("/auth/me")).status_code == 200
        # A write must see revocations, which Redis cannot tell: 503, not a guess.
        write = await first.post("/auth/logout", headers={"X-CSRF-Token": token})
        assert write.status_code == 503
        assert write.headers["retry-after"] == "5"
        assert "session store (Redis) is unavailable" in write.json()["detail"]
        refused = await first.post("/auth/login", json={"username": username, "password": GOOD})
        assert refused.status_code == 503
    finally:
        await sessions.redis.aclose()
        await throttle.redis.aclose()
        sessions.redis, throttle.redis = live_sessions, live_throttle
    ended = await first.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert ended.json() == {"logged_out": True}
