"""Throttles over HTTP with counters in PostgreSQL (UNLOGGED table) and explicit memory."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from rest_models import PrincipalFromHeader, user_header

from stellate.core import App, Request
from stellate.core.testing import AppClient
from stellate.orm import Database, get_db
from stellate.rest import APIView
from stellate.rest.throttling import (
    AnonRateThrottle,
    MemoryThrottleStore,
    PostgresThrottleStore,
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
    throttle_classes = (FiveAnon, TwoPerUser)

    async def get(self, request: Request) -> dict[str, str]:
        return {"hello": "world"}


class Uploads(APIView):
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
