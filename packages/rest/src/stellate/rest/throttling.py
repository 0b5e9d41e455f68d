"""Throttling: request rates like ``"100/min"`` per user, per address or per view scope.

Counters live where every worker sees them: by default a PostgreSQL UNLOGGED table
(``stellate_rest_throttle``, one row per client and scope, updated by a single
``INSERT ... ON CONFLICT`` per request, so concurrent workers never lose a hit). An
in-process store exists for single-process programs and must be chosen explicitly.

Refused requests get 429 with ``Retry-After`` and the IETF ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` headers; accepted ones carry the
``RateLimit-*`` headers of the tightest throttle.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from stellate.orm.database import get_db
from stellate.rest.exceptions import Throttled
from stellate.rest.permissions import is_authenticated

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "AnonRateThrottle",
    "BaseThrottle",
    "MemoryThrottleStore",
    "PostgresThrottleStore",
    "RedisThrottleStore",
    "ScopedRateThrottle",
    "SimpleRateThrottle",
    "ThrottleStore",
    "UserRateThrottle",
    "parse_rate",
]

_STORE_STATE = "stellate_rest_throttle_store"
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/min"`` -> ``(100, 60)``: requests allowed per window of seconds.

    Accepts ``second``/``minute``/``hour``/``day`` and their short forms, with an
    optional count (``"10/5m"``).

    Raises:
        ValueError: The rate is not in that form.
    """
    found = _RATE.match(rate.lower()) if isinstance(rate, str) else None
    unit = found.group(3) if found else ""
    if found is None or unit not in _UNITS or int(found.group(1)) < 1:
        raise ValueError(
            f"Invalid throttle rate `{rate}`: write `<requests>/<period>` such as "
            "`100/min`, `5/second`, `1000/hour`, `10/5m` or `20000/day`"
        )
    return int(found.group(1)), int(found.group(2) or 1) * _UNITS[unit]


class ThrottleStore(Protocol):
    """Counts hits per key in fixed windows; shared by every worker of the app."""

    async def hit(self, key: str, window: int, now: float) -> tuple[int, float]:
        """Count one request for ``key``; return (hits in this window, window end)."""
        ...


class PostgresThrottleStore:
    """Counters in a PostgreSQL UNLOGGED table (the default store).

    UNLOGGED skips the write-ahead log: counters are cheap to update and are lost in a
    crash, which only resets the limits. The table is created on first use.

    Args:
        database: The database alias (``get_db(database)``).
        table: The table name.
    """

    def __init__(self, database: str = "default", table: str = "stellate_rest_throttle") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise ValueError(f"Throttle table name `{table}` must be a plain lowercase identifier")
        self.database = database
        self.table = table
        self._ready = False
        self._hits = 0
        self._sql = (
            f"INSERT INTO {table} AS t (key, window_start, hits) VALUES ($1, $2, 1) "
            "ON CONFLICT (key) DO UPDATE SET "
            "hits = CASE WHEN t.window_start = EXCLUDED.window_start THEN t.hits + 1 ELSE 1 END, "
            "window_start = EXCLUDED.window_start RETURNING hits"
        )

    async def ensure_table(self) -> None:
        """Create the counters table if it does not exist."""
        await get_db(self.database).execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.table} ("
            "key TEXT PRIMARY KEY, window_start BIGINT NOT NULL, hits INTEGER NOT NULL)"
        )
        self._ready = True

    #: Every this many hits, rows of windows that ended over a day ago are deleted, so
    #: clients seen once do not stay in the table forever.
    cleanup_every: int = 1000

    async def hit(self, key: str, window: int, now: float) -> tuple[int, float]:
        if not self._ready:
            await self.ensure_table()
        start = int(now // window) * window
        database = get_db(self.database)
        hits = await database.fetchval(self._sql, f"{key}:{window}", start)
        self._hits += 1
        if self._hits % self.cleanup_every == 0:
            await database.execute(
                f"DELETE FROM {self.table} WHERE window_start < $1", int(now) - 86400
            )
        return int(hits), float(start + window)


class RedisThrottleStore:
    """Counters in Redis (``INCR`` + ``EXPIRE`` in one round trip); needs ``redis``.

    Install with ``pip install "stellate-rest[redis]"``. Each window is its own key,
    expiring with the window, so nothing needs cleaning up.

    Args:
        url: ``redis://host:6379/0``.
        prefix: Key prefix.
    """

    def __init__(self, url: str, *, prefix: str = "stellate:throttle:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            try:
                module = importlib.import_module("redis.asyncio")
            except ImportError:
                raise ImportError(
                    'RedisThrottleStore needs redis-py: pip install "stellate-rest[redis]"'
                ) from None
            self._client = module.from_url(self.url)
        return self._client

    async def hit(self, key: str, window: int, now: float) -> tuple[int, float]:
        start = int(now // window) * window
        name = f"{self.prefix}{key}:{window}:{start}"
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window + 1)
            hits, _ = await pipe.execute()
        return int(hits), float(start + window)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class MemoryThrottleStore:
    """Counters in this process only: for single-process programs and scripts.

    With several workers each one counts alone, so the real limit multiplies by the
    number of workers; use ``PostgresThrottleStore`` there.
    """

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, window: int, now: float) -> tuple[int, float]:
        start = int(now // window) * window
        name = f"{key}:{window}"
        previous_start, hits = self._windows.get(name, (start, 0))
        hits = hits + 1 if previous_start == start else 1
        self._windows[name] = (start, hits)
        return hits, float(start + window)


def throttle_store(request: Request) -> ThrottleStore:
    """The app's store: ``app.state.stellate_rest_throttle_store``, else PostgreSQL."""
    state = request.app.state
    store = getattr(state, _STORE_STATE, None)
    if store is None:
        store = PostgresThrottleStore()
        setattr(state, _STORE_STATE, store)
    return store


def client_address(request: Request) -> str:
    """The client's address (behind a proxy, configure uvicorn's ``--forwarded-allow-ips``)."""
    return request.client.host if request.client is not None else "unknown"


class BaseThrottle:
    """A check before a view's handler; raise ``Throttled`` to refuse the request."""

    async def check(self, request: Request, view: Any) -> dict[str, str]:
        """Raise ``Throttled`` when over the limit; return headers for the response."""
        return {}


class SimpleRateThrottle(BaseThrottle):
    """A fixed-window limit of ``rate`` per ``get_cache_key`` (``None`` key: not limited).

    Class attributes:
        rate: ``"100/min"``.
        scope: Part of the key, so two throttles do not share counters.
        store: A ``ThrottleStore``; the app's (PostgreSQL by default) when ``None``.
        clock: Seconds since the epoch (tests pass their own).
    """

    rate: ClassVar[str | None] = None
    scope: ClassVar[str] = "default"
    store: ClassVar[ThrottleStore | None] = None
    clock: ClassVar[Callable[[], float]] = time.time

    def get_rate(self, view: Any) -> str | None:
        """The rate for this view (``rate`` by default)."""
        return self.rate

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        """Who is counted: override in subclasses."""
        raise NotImplementedError

    async def check(self, request: Request, view: Any) -> dict[str, str]:
        rate = self.get_rate(view)
        key = self.get_cache_key(request, view)
        if rate is None or key is None:
            return {}
        limit, window = parse_rate(rate)
        store = self.store if self.store is not None else throttle_store(request)
        now = type(self).clock()
        hits, reset_at = await store.hit(f"throttle:{self.scope}:{key}", window, now)
        reset = max(1, int(reset_at - now + 0.999))
        headers = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(max(0, limit - hits)),
            "RateLimit-Reset": str(reset),
        }
        if hits > limit:
            raise Throttled(
                f"Request was throttled ({limit} per {window} seconds): try again in "
                f"{reset} seconds.",
                wait=reset,
                headers=headers,
            )
        return headers


class AnonRateThrottle(SimpleRateThrottle):
    """Limits anonymous requests per client address; authenticated ones pass."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if is_authenticated(request.scope.get("user")):
            return None
        return f"ip:{client_address(request)}"


class UserRateThrottle(SimpleRateThrottle):
    """Limits each user (by ``request.user["id"]``), or each address when anonymous."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.scope.get("user")
        if is_authenticated(user):
            ident = user.get("id") if isinstance(user, dict) else getattr(user, "id", None)
            return f"user:{ident}"
        return f"ip:{client_address(request)}"


class ScopedRateThrottle(UserRateThrottle):
    """Limits per user and per ``view.throttle_scope`` at ``view.throttle_rates[scope]``.

    Example:
        ```python
        class UploadView(APIView):
            throttle_classes = (ScopedRateThrottle,)
            throttle_scope = "uploads"
            throttle_rates = {"uploads": "10/hour"}
        ```
    """

    def get_rate(self, view: Any) -> str | None:
        scope = getattr(view, "throttle_scope", None)
        rates = getattr(view, "throttle_rates", None) or {}
        if scope is None:
            return None
        if scope not in rates:
            raise ValueError(
                f"`{type(view).__name__}.throttle_scope` is `{scope}` but `throttle_rates` has "
                f"no rate for it: add `throttle_rates = {{{scope!r}: '100/min'}}`"
            )
        return str(rates[scope])

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        base = super().get_cache_key(request, view)
        return f"{getattr(view, 'throttle_scope', '')}:{base}"
