"""Throttles over HTTP with counters in PostgreSQL (UNLOGGED table) and explicit memory."""

from __future__ import annotations

import os
import secrets
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from rest_models import PrincipalFromHeader, user_header

from stellate.core import App, Request, StartupError
from stellate.core.testing import AppClient
from stellate.orm import Database, get_db
from stellate.rest import AllowAny, APIView
from stellate.rest.throttling import (
    AnonRateThrottle,
    MemoryThrottleStore,
    PostgresThrottleStore,
    RedisThrottleStore,
    ScopedRateThrottle,
    UserRateThrottle,
    parse_rate,
)


class Clock:
    now = 1_000_000.0

    @classmethod
    def time(cls) -> float:
        return cls.now


class FiveAnon(AnonRateThrottle):
    rate = "5/min"
    clock = Clock.time


class TwoPerUser(UserRateThrottle):
    rate = "2/minute"
    clock = Clock.time


class Hello(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (FiveAnon, TwoPerUser)

    async def get(self, request: Request) -> dict[str, str]:
        return {"hello": "world"}


class Uploads(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "uploads"
    throttle_rates: ClassVar[dict[str, str]] = {"uploads": "1/hour"}

    async def post(self, request: Request) -> dict[str, str]:
        return {"uploaded": "yes"}


def make_app() -> App:
    app = App(plugins=["orm", "rest"])
    app.use(PrincipalFromHeader)
    app.include([Hello.as_route("/hello"), Uploads.as_route("/upload")])
    return app


def test_parse_rate() -> None:
    assert parse_rate("100/min") == (100, 60)
    assert parse_rate("5/second") == (5, 1)
    assert parse_rate("10/5m") == (10, 300)
    assert parse_rate("1000/hours") == (1000, 3600)
    for bad in ("100", "ten/min", "5/fortnight", "0/min"):
        with pytest.raises(ValueError, match="Invalid throttle rate"):
            parse_rate(bad)


async def test_anonymous_and_user_limits_with_postgres_counters(db: Database) -> None:
    Clock.now = 1_000_040.0
    async with AppClient(make_app()) as client:
        first = await client.get("/hello")
        assert first.status_code == 200
        # The user throttle (2/min per address for anonymous) is the tightest.
        assert first.headers["ratelimit-limit"] == "2"
        assert first.headers["ratelimit-remaining"] == "1"
        assert first.headers["ratelimit-reset"] == "40"
        assert (await client.get("/hello")).status_code == 200
        refused = await client.get("/hello")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "40"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.json()["detail"] == (
            "Request was throttled (2 per 60 seconds): try again in 40 seconds."
        )
        # Another user has their own counter.
        other = await client.get("/hello", headers=user_header(id=55))
        assert other.status_code == 200
        # The counters are rows of the shared UNLOGGED table.
        persistence = await get_db().fetchval(
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'stellate_rest_throttle'"
        )
        assert persistence == "u"
        rows = await get_db().fetchval("SELECT count(*) FROM stellate_rest_throttle")
        assert rows == 3  # anon/ip, user/ip, user/55
        # A new window starts counting again.
        Clock.now += 60
        assert (await client.get("/hello")).status_code == 200


async def test_scoped_throttle(db: Database) -> None:
    async with AppClient(make_app()) as client:
        assert (await client.post("/upload")).status_code == 200
        refused = await client.post("/upload")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


async def test_two_stores_on_one_table_share_counts(db: Database) -> None:
    # Two workers = two store objects over one table: they see each other's hits.
    first, second = PostgresThrottleStore(), PostgresThrottleStore()
    assert await first.hit("k", 60, 120.0) == (1, 180.0)
    assert await second.hit("k", 60, 121.0) == (2, 180.0)
    assert await first.hit("k", 60, 185.0) == (1, 240.0)


async def test_postgres_store_deletes_stale_windows(db: Database) -> None:
    store = PostgresThrottleStore()
    store.cleanup_every = 3
    await store.hit("old", 60, 1_000.0)
    await store.hit("new", 60, 200_000.0)
    await store.hit("new", 60, 200_001.0)  # third hit: cleanup runs
    keys = await get_db().fetch("SELECT key FROM stellate_rest_throttle ORDER BY key")
    assert [row["key"] for row in keys] == ["new:60"]


class SyncView(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> dict[str, str]:
        return {"sync": "ok"}


async def test_sync_handlers_are_supported(db: Database) -> None:
    app = App(plugins=["orm", "rest"])
    app.include([SyncView.as_route("/sync")])
    async with AppClient(app) as client:
        assert (await client.get("/sync")).json() == {"sync": "ok"}


async def test_memory_store_is_explicit_and_counts() -> None:
    store = MemoryThrottleStore()
    assert await store.hit("k", 10, 5.0) == (1, 10.0)
    assert await store.hit("k", 10, 6.0) == (2, 10.0)
    assert await store.hit("k", 10, 11.0) == (1, 20.0)


def test_store_table_name_is_checked() -> None:
    with pytest.raises(ValueError, match="plain lowercase identifier"):
        PostgresThrottleStore(table="x; DROP TABLE y")


def test_scope_without_rate_is_a_clear_error() -> None:
    class View:
        throttle_scope = "exports"
        throttle_rates: ClassVar[dict[str, Any]] = {}

    with pytest.raises(ValueError, match="no rate for it"):
        ScopedRateThrottle().get_rate(View())


# Database 14 of the test Redis, whatever database the URL names.
REDIS_URL = urlunsplit(
    urlsplit(os.environ.get("STELLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379"))._replace(
        path="/14"
    )
)


async def test_redis_store_counts_across_store_objects() -> None:
    key = f"test-{secrets.token_hex(4)}"
    first, second = RedisThrottleStore(REDIS_URL), RedisThrottleStore(REDIS_URL)
    try:
        assert await first.hit(key, 60, 120.0) == (1, 180.0)
        assert await second.hit(key, 60, 121.0) == (2, 180.0)
        assert await first.hit(key, 60, 185.0) == (1, 240.0)
        ttl = await first._redis().ttl(f"stellate:throttle:{key}:60:120")
        assert 0 < ttl <= 61
    finally:
        await first.close()
        await second.close()


async def test_plugin_chooses_the_store_from_settings(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REDIS_URL", "STELLATE_REDIS_URL", "STELLATE_THROTTLE_STORE"):
        monkeypatch.delenv(name, raising=False)
    redis_app = App(plugins=["orm", "rest"], settings={"rest": {"redis_url": REDIS_URL}})
    assert isinstance(redis_app.state.stellate_rest_throttle_store, RedisThrottleStore)
    memory_app = App(plugins=["orm", "rest"], settings={"rest": {"throttle_store": "memory"}})
    assert isinstance(memory_app.state.stellate_rest_throttle_store, MemoryThrottleStore)
    default_app = App(plugins=["orm", "rest"])
    assert isinstance(default_app.state.stellate_rest_throttle_store, PostgresThrottleStore)
    with pytest.raises(StartupError, match="no Redis URL is set"):
        App(plugins=["orm", "rest"], settings={"rest": {"throttle_store": "redis"}})


class RedisLimited(APIView):
    permission_classes = (AllowAny,)
    throttle_classes = (TwoPerUser,)

    async def get(self, request: Request) -> dict[str, str]:
        return {"ok": "yes"}


async def test_throttle_over_http_with_redis(db: Database) -> None:
    app = App(plugins=["orm", "rest"], settings={"rest": {"redis_url": REDIS_URL}})
    app.use(PrincipalFromHeader)
    app.include([RedisLimited.as_route("/limited")])
    Clock.now = 2_000_000.0 + secrets.randbelow(10**6) * 60
    headers = user_header(id=secrets.randbelow(10**9))
    async with AppClient(app) as client:
        statuses = [(await client.get("/limited", headers=headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
