"""The Redis revocation feed survives a Redis outage: it reconnects and shuts down cleanly.

Runs a private ``redis-server`` on a free port, which the tests stop and start again (the
machine's Redis is never touched).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("redis", reason="the Redis stores need the stellate-auth[redis] extra")

from redis.exceptions import RedisError

from stellate.auth._revocations import session_message
from stellate.auth.redis_stores import RedisRevocationFeed, RedisSessionAuth, redis_client
from stellate.core import App
from stellate.core.testing import AppClient

CHANNEL = "stellate:auth:test-feed:revoked"
DATABASE_URL = os.environ.get(
    "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


class PrivateRedis:
    """A redis-server of this module's own on a free port."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Received:
    def __init__(self) -> None:
        self.sessions: list[str] = []

    def session(self, sid_hash: str, until: float) -> None:
        self.sessions.append(sid_hash)

    def user(self, user_id: int, before: float) -> None:
        raise AssertionError("no user revocation is sent")


async def wait_for(
    condition_name: str, check: Callable[[], Awaitable[bool]], seconds: float = 10.0
) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {condition_name}"
        await asyncio.sleep(0.05)


async def publish_until_received(url: str, received: Received, sid_hash: str) -> None:
    """Publish once the feed is subscribed; the message must arrive."""
    client = redis_client(url)
    try:

        async def subscribed() -> bool:
            try:
                ((_, count),) = await client.pubsub_numsub(CHANNEL)
            except (RedisError, OSError):  # Redis may still be starting
                return False
            return int(count) == 1

        await wait_for("the feed subscribed", subscribed)
        await client.publish(CHANNEL, session_message(sid_hash, time.time() + 60))

        async def arrived() -> bool:
            return sid_hash in received.sessions

        await wait_for(f"`{sid_hash}` arrived", arrived, 5.0)
    finally:
        await client.aclose()


async def test_feed_reconnects_after_redis_restarts_and_stops_cleanly(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    received = Received()
    redis = redis_client(private_redis.url)
    feed = RedisRevocationFeed(
        redis, CHANNEL, received.session, received.user, retry_min=0.05, retry_max=0.4
    )
    await feed.start(private_redis.url)
    try:
        await publish_until_received(private_redis.url, received, "before")

        await asyncio.to_thread(private_redis.stop)
        # Several failed reconnects (connection refused) while Redis is down: the task lives on.
        await asyncio.sleep(1.0)
        assert feed._task is not None
        assert not feed._task.done()
        lost = [r for r in caplog.records if "lost its connection" in r.getMessage()]
        assert lost
        assert "ConnectionError" in lost[0].getMessage()

        await asyncio.to_thread(private_redis.start)
        # No request calls ensure_listening here: the feed resubscribes by itself.
        await publish_until_received(private_redis.url, received, "after")
        assert any("reconnected" in r.getMessage() for r in caplog.records)
    finally:
        await asyncio.wait_for(feed.stop(), 5)
        await redis.aclose()
    assert feed._task is None
    assert received.sessions == ["before", "after"]


async def test_feed_stops_cleanly_while_redis_is_down(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    received = Received()
    redis = redis_client(private_redis.url)
    feed = RedisRevocationFeed(
        redis, CHANNEL, received.session, received.user, retry_min=0.05, retry_max=0.4
    )
    await feed.start(private_redis.url)
    try:
        await publish_until_received(private_redis.url, received, "up")
        await asyncio.to_thread(private_redis.stop)
        await asyncio.sleep(0.5)
    finally:
        # Shutdown during the outage (the task is between reconnect attempts): no error.
        with caplog.at_level(logging.WARNING, logger="stellate.auth.sessions"):
            await asyncio.wait_for(feed.stop(), 5)
        await redis.aclose()
    assert feed._task is None
    assert not [r for r in caplog.records if "ended with" in r.getMessage()]


async def test_feed_started_while_redis_is_down_subscribes_when_it_comes_up(
    private_redis: PrivateRedis,
) -> None:
    await asyncio.to_thread(private_redis.stop)
    received = Received()
    redis = redis_client(private_redis.url)
    feed = RedisRevocationFeed(
        redis, CHANNEL, received.session, received.user, retry_min=0.05, retry_max=0.4
    )
    await feed.start(private_redis.url)
    try:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(private_redis.start)
        await publish_until_received(private_redis.url, received, "late")
    finally:
        await asyncio.wait_for(feed.stop(), 5)
        await redis.aclose()


async def test_app_with_redis_auth_survives_an_outage_and_shuts_down_cleanly(
    private_redis: PrivateRedis,
) -> None:
    settings: dict[str, object] = {
        "orm": {"database_url": DATABASE_URL, "embedded_database": False},
        "auth": {"password_profile": "owasp-minimum", "redis_url": private_redis.url},
        "secret_key": "redis-feed-test-secret-" + "k" * 32,
    }
    app = App(plugins=["orm", "auth"], settings=settings)
    # Leaving the client runs the app's shutdown, which raises if the feed's task failed.
    async with AppClient(app):
        sessions = app.auth.sessions  # type: ignore[attr-defined]
        assert isinstance(sessions, RedisSessionAuth)
        channel = sessions._feed.channel
        received: list[str] = []
        sessions._feed._on_session = lambda sid_hash, until: received.append(sid_hash)
        client = redis_client(private_redis.url)
        try:

            async def subscribed() -> bool:
                try:
                    ((_, count),) = await client.pubsub_numsub(channel)
                except (RedisError, OSError):
                    return False
                return int(count) == 1

            await wait_for("the app's feed subscribed", subscribed)
            await asyncio.to_thread(private_redis.stop)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_redis.start)
            await wait_for("the app's feed subscribed again", subscribed)
            await client.publish(channel, session_message("after-outage", time.time() + 60))

            async def arrived() -> bool:
                return "after-outage" in received

            await wait_for("the revocation arrived", arrived, 5.0)
            await asyncio.to_thread(private_redis.stop)  # shutdown during an outage
        finally:
            await client.aclose()
