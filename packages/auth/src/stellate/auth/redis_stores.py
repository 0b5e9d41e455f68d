"""Sessions and login throttling in Redis, for apps that configure one.

PostgreSQL (UNLOGGED tables) stays the default; with ``STELLATE_REDIS_URL`` (or
``STELLATE_AUTH_REDIS_URL``) set, the ``auth`` plugin uses these instead
(``STELLATE_AUTH_STORE=postgres`` keeps PostgreSQL). Every worker on every machine
sees the same keys, so logouts and lockouts hold across workers as they do in
PostgreSQL. Needs redis-py: ``pip install "stellate-auth[redis]"``.

Keys (``prefix`` defaults to ``stellate:auth:``):

- ``session:<sha256 of the id>``: ``[absolute expiry, principal JSON]``; its TTL is
  the idle timeout, slid by each check (``GETEX``) but never past the absolute
  expiry, so ended sessions disappear without a purge job;
- ``user-sessions:<user id>``: the set of a user's session hashes, for "log out
  everywhere" and principal refreshes;
- ``login:n:<key>`` / ``login:lock:<key>``: a failure counter living for the window,
  and a lock living for the lockout; one Lua script counts both keys of an attempt
  and sets the locks atomically.

Revocations reach every worker through the pub/sub channel ``<prefix>revoked``, as
LISTEN/NOTIFY does for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from starlette.requests import HTTPConnection

from stellate.auth._revocations import session_message, user_message
from stellate.auth.principal import Principal
from stellate.auth.sessions import SessionAuth
from stellate.auth.throttle import LoginThrottle, username_key
from stellate.core.exceptions import HTTPException

__all__ = ["RedisLoginThrottle", "RedisSessionAuth", "SessionStoreUnavailable"]

logger = logging.getLogger("stellate.auth.sessions")

DEFAULT_PREFIX = "stellate:auth:"


def redis_client(url: str) -> Any:
    """A ``redis.asyncio`` client for ``url`` (redis-py is an optional dependency)."""
    try:
        module = importlib.import_module("redis.asyncio")
    except ImportError:
        raise ImportError(
            'Auth on Redis needs redis-py: pip install "stellate-auth[redis]", or unset '
            "STELLATE_REDIS_URL / set STELLATE_AUTH_STORE=postgres to keep PostgreSQL"
        ) from None
    return module.from_url(url)


class SessionStoreUnavailable(HTTPException):
    """Redis did not answer: 503 with ``Retry-After`` (sessions fail closed, not open)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(
            503,
            "The session store (Redis) is unavailable: try again in a few seconds",
            headers={"Retry-After": "5"},
        )
        logger.warning("Auth store (Redis) unavailable: %s", error)


@contextlib.asynccontextmanager
async def _store_errors() -> AsyncIterator[None]:
    # redis-py's errors do not derive from OSError; both mean "no answer from Redis".
    errors = importlib.import_module("redis.exceptions")
    try:
        yield
    except (errors.RedisError, OSError) as exc:
        raise SessionStoreUnavailable(exc) from None


class _Record(msgspec.Struct, array_like=True):
    expires: float
    principal: str


class RedisSessionAuth(SessionAuth):
    """:class:`~stellate.auth.sessions.SessionAuth` with its records in Redis.

    Args:
        redis_url: ``redis://host:6379/0``.
        prefix: prefix of every key and of the revocation channel.
        **options: as :class:`SessionAuth` (``database`` and ``table`` are unused).
    """

    def __init__(
        self,
        secret: str | None = None,
        token_engine: Any = None,
        *,
        redis_url: str,
        prefix: str = DEFAULT_PREFIX,
        **options: Any,
    ) -> None:
        super().__init__(secret, token_engine, **options)
        self.redis_url = redis_url
        self.prefix = prefix
        self.redis = redis_client(redis_url)
        self._feed = RedisRevocationFeed(  # type: ignore[assignment]
            self.redis, f"{prefix}revoked", self._revoke_session, self._revoke_user
        )

    def _key(self, sid_hash: str) -> str:
        return f"{self.prefix}session:{sid_hash}"

    def _user_key(self, user_id: int) -> str:
        return f"{self.prefix}user-sessions:{user_id}"

    async def ensure_table(self) -> None:
        """Nothing to create in Redis (keys expire by themselves)."""

    async def start_revocation_feed(self) -> None:
        """Subscribe to revocations published by other workers."""
        await self._feed.start(self.redis_url)

    async def _touch(self, sid_hash: str, now: float) -> str | None:
        async with _store_errors():
            raw = await self.redis.get(self._key(sid_hash))
            if raw is None:
                return None
            record = msgspec.json.decode(raw, type=_Record)
            if record.expires <= now:
                return None
            until = min(record.expires, now + self.idle_timeout)
            # Slides the idle expiry; a key already gone (logged out meanwhile) stays gone.
            if not await self.redis.pexpireat(self._key(sid_hash), int(until * 1000)):
                return None
            return record.principal

    async def _insert(
        self, sid_hash: str, principal: Principal, now: float, request: HTTPConnection
    ) -> None:
        async with _store_errors():
            expires = now + self.absolute_timeout
            record = _Record(expires=expires, principal=msgspec.json.encode(principal).decode())
            user_key = self._user_key(principal.id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._key(sid_hash),
                    msgspec.json.encode(record),
                    pxat=int(min(expires, now + self.idle_timeout) * 1000),
                )
                pipe.sadd(user_key, sid_hash)
                pipe.expire(user_key, math.ceil(self.absolute_timeout))
                await pipe.execute()

    async def _delete(self, sid_hash: str, payload: Any) -> None:
        async with _store_errors():
            until = payload.started + self.absolute_timeout
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(sid_hash))
                pipe.srem(self._user_key(payload.user["id"]), sid_hash)
                pipe.publish(f"{self.prefix}revoked", session_message(sid_hash, until))
                await pipe.execute()
            self._remember_revoked(sid_hash, payload)

    async def logout_everywhere(self, user_id: int) -> int:
        """End every session of ``user_id``; returns how many there were."""
        async with _store_errors():
            user_key = self._user_key(user_id)
            hashes = await self.redis.smembers(user_key)
            before = self.clock()
            async with self.redis.pipeline(transaction=True) as pipe:
                if hashes:
                    pipe.delete(*(self._key(h.decode()) for h in hashes))
                pipe.delete(user_key)
                pipe.publish(f"{self.prefix}revoked", user_message(user_id, before))
                results = await pipe.execute()
            self._revoke_user(user_id, before)
            return int(results[0]) if hashes else 0

    async def refresh_principal(self, principal: Principal) -> int:
        """Store ``principal`` in every live session of its user; returns how many."""
        async with _store_errors():
            hashes = await self.redis.smembers(self._user_key(principal.id))
            encoded = msgspec.json.encode(principal).decode()
            updated = 0
            for sid_hash in hashes:
                key = self._key(sid_hash.decode())
                raw = await self.redis.get(key)
                if raw is None:
                    continue
                record = msgspec.json.decode(raw, type=_Record)
                record.principal = encoded
                if await self.redis.set(key, msgspec.json.encode(record), keepttl=True, xx=True):
                    updated += 1
            return updated

    async def purge_expired(self) -> int:
        """Nothing to purge: Redis expires ended sessions itself."""
        return 0

    async def close(self) -> None:
        """Close the connection pool (the plugin does at shutdown)."""
        await self.redis.aclose()


class RedisRevocationFeed:
    """Revocations over Redis pub/sub, with the interface of the PostgreSQL feed.

    One task listens for the app's lifetime: when Redis goes away it logs, waits
    (``retry_min`` seconds, doubling up to ``retry_max``) and subscribes again, so a
    Redis outage neither ends the feed nor fails the app's shutdown.
    """

    def __init__(
        self,
        redis: Any,
        channel: str,
        on_session: Callable[[str, float], None],
        on_user: Callable[[int, float], None],
        *,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self._on_session = on_session
        self._on_user = on_user
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self._started = False

    async def start(self, url: str) -> None:
        # A Redis that is down at startup does not stop the app: the task retries.
        self._started = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Whatever ended the task, shutdown goes on.
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            if not isinstance(outcome, asyncio.CancelledError | None):
                logger.warning("Session revocation feed (Redis) ended with %r", outcome)

    def ensure_listening(self) -> None:
        if not self._started or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        # redis-py's errors (ConnectionError, TimeoutError, ...) are not OSErrors.
        errors = (importlib.import_module("redis.exceptions").RedisError, OSError)
        delay = self.retry_min
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if delay > self.retry_min:
                    logger.warning("Session revocation feed (Redis) reconnected")
                delay = self.retry_min
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self._apply(data.decode(errors="replace"))
            except errors as exc:
                logger.warning(
                    "Session revocation feed (Redis) lost its connection (%s: %s): logouts on "
                    "other workers take effect at the next session check until it "
                    "reconnects; retrying in %gs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
            finally:
                with contextlib.suppress(*errors):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    def _apply(self, payload: str) -> None:
        kind, _, rest = payload.partition(":")
        key, _, moment = rest.rpartition(":")
        try:
            when = float(moment)
            if kind == "s" and key:
                self._on_session(key, when)
            elif kind == "u":
                self._on_user(int(key), when)
        except ValueError:
            logger.warning("Ignored a malformed session revocation `%s`", payload[:80])


_FAILURE_SCRIPT = """
local locked = 0
for i = 0, 1 do
  local counter, lock = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local limit = tonumber(ARGV[3 + i])
  local failures = redis.call('INCR', counter)
  if failures == 1 then redis.call('PEXPIRE', counter, ARGV[1]) end
  if failures >= limit then
    redis.call('SET', lock, '1', 'PX', ARGV[2])
    redis.call('DEL', counter)
    locked = 1
  end
end
return locked
"""


class RedisLoginThrottle(LoginThrottle):
    """:class:`~stellate.auth.throttle.LoginThrottle` with its counters in Redis.

    Args:
        redis_url: ``redis://host:6379/0``.
        prefix: prefix of the keys.
        **options: ``limit``, ``ip_limit``, ``window``, ``lockout`` as LoginThrottle.
    """

    def __init__(self, *, redis_url: str, prefix: str = DEFAULT_PREFIX, **options: Any) -> None:
        super().__init__(**options)
        self.redis_url = redis_url
        self.prefix = f"{prefix}login:"
        self.redis = redis_client(redis_url)
        self._failure = self.redis.register_script(_FAILURE_SCRIPT)

    def _keys(self, keys: list[str]) -> list[str]:
        return [name for key in keys for name in (f"{self.prefix}n:{key}", self._lock(key))]

    def _lock(self, key: str) -> str:
        return f"{self.prefix}lock:{key}"

    async def ensure_table(self) -> None:
        """Nothing to create in Redis."""

    async def retry_after(self, ip: str, username: str) -> int | None:
        async with _store_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in self.keys(ip, username):
                    pipe.pttl(self._lock(key))
                remaining = [ms for ms in await pipe.execute() if ms > 0]
            return None if not remaining else max(1, math.ceil(max(remaining) / 1000))

    async def failure(self, ip: str, username: str) -> int | None:
        async with _store_errors():
            locked = await self._failure(
                keys=self._keys(self.keys(ip, username)),
                args=[
                    int(self.window * 1000),
                    int(self.lockout * 1000),
                    self.ip_limit,
                    self.limit,
                ],
            )
            return math.ceil(self.lockout) if locked else None

    async def success(self, username: str) -> None:
        async with _store_errors():
            key = username_key(username)
            await self.redis.delete(*self._keys([key]))

    async def reset(self, *, ip: str | None = None, username: str | None = None) -> None:
        keys = []
        if ip is not None:
            keys.append(f"ip:{ip}")
        if username is not None:
            keys.append(username_key(username))
        if keys:
            await self.redis.delete(*self._keys(keys))

    async def close(self) -> None:
        """Close the connection pool (the plugin does at shutdown)."""
        await self.redis.aclose()
