"""Human-friendly time strings and the cache that makes them cheap.

``naturaltime`` turns a datetime into "5 minutes ago" or "in 2 hours".
``time_bucket_cached`` memoizes helpers like it, whose output only changes
when the clock crosses a bucket boundary: a page that shows the same
``created_at`` twenty times computes its label once.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar, cast

__all__ = ["TimeBucketCached", "naturaltime", "time_bucket_cached"]

P = ParamSpec("P")
R = TypeVar("R")

_KWARGS_MARK = object()


class TimeBucketCached(Protocol[P, R]):
    """A function wrapped by ``time_bucket_cached``; call it like the function."""

    __name__: str
    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def cache_clear(self) -> None:
        """Drop every cached result."""

    def cache_size(self) -> int:
        """How many results are cached (live and stale buckets)."""


def _bucket_cache(
    func: Callable[P, R], bucket_seconds: float, maxsize: int, clock: Callable[[], float]
) -> TimeBucketCached[P, R]:
    # A closure rather than a class with __call__: locals are the fastest
    # lookups Python has, and a hit is all this exists to make cheap.
    # FIFO, not LRU: a hit does not move its entry, so a lookup is one dict
    # read with no reordering (and no lock, unlike functools.lru_cache).
    cache: OrderedDict[Hashable, R] = OrderedDict()
    name = func.__qualname__

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        key: Hashable = (
            (args, int(clock() / bucket_seconds))
            if not kwargs
            else (args, _KWARGS_MARK, tuple(kwargs.items()), int(clock() / bucket_seconds))
        )
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:
            raise TypeError(
                f"`{name}` is time_bucket_cached, so its arguments must be hashable; "
                f"got `{args!r}` `{kwargs!r}`"
            ) from None
        result = func(*args, **kwargs)
        # Entries of past buckets are never hit again; FIFO evicts them first.
        while len(cache) >= maxsize:
            try:
                cache.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break
        cache[key] = result
        return result

    def cache_size() -> int:
        return len(cache)

    functools.update_wrapper(wrapper, func)
    wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
    wrapper.cache_size = cache_size  # type: ignore[attr-defined]
    return cast("TimeBucketCached[P, R]", wrapper)


def time_bucket_cached(
    bucket_seconds: float = 30.0,
    maxsize: int = 1024,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[Callable[P, R]], TimeBucketCached[P, R]]:
    """Cache a function's results per arguments and time bucket.

    The cache key is ``(args, int(clock() / bucket_seconds))``, so a result is
    reused until the clock enters the next bucket; entries live in an
    ``OrderedDict`` evicted first-in, first-out once ``maxsize`` is reached.
    Use it for helpers whose output depends on the current time plus a few
    inputs and may be stale for up to ``bucket_seconds``; never for tokens,
    nonces or anything that needs sub-bucket precision.

    Args:
        bucket_seconds: The bucket width in seconds.
        maxsize: The most results kept.
        clock: Monotonic seconds, ``time.monotonic`` by default (tests pass
            their own).

    Returns:
        A decorator.

    Raises:
        ValueError: If ``bucket_seconds`` or ``maxsize`` is not positive.
        TypeError: If used bare (``@time_bucket_cached`` without parentheses).

    Example:
        ```python
        @time_bucket_cached(bucket_seconds=30)
        def time_ago(timestamp: datetime) -> str:
            return naturaltime(timestamp)
        ```
    """
    if callable(bucket_seconds):
        raise TypeError(
            "time_bucket_cached needs parentheses: write `@time_bucket_cached()` or "
            "`@time_bucket_cached(bucket_seconds=30)`"
        )
    if (
        isinstance(bucket_seconds, bool)
        or not isinstance(bucket_seconds, int | float)
        or not bucket_seconds > 0
        or bucket_seconds == float("inf")
    ):
        raise ValueError(
            f"time_bucket_cached `bucket_seconds` must be a positive number, "
            f"got `{bucket_seconds!r}`"
        )
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"time_bucket_cached `maxsize` must be an int >= 1, got `{maxsize!r}`")

    def decorate(func: Callable[P, R]) -> TimeBucketCached[P, R]:
        return _bucket_cache(func, float(bucket_seconds), maxsize, clock)

    return decorate


_UNITS = (
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (7 * 86400, "week"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
    (1, "second"),
)
_JUST_NOW_SECONDS = 10


def naturaltime(value: datetime, now: datetime | None = None) -> str:
    """Describe ``value`` relative to ``now``: "5 minutes ago", "in 2 hours", "just now".

    The largest whole unit is used (seconds, minutes, hours, days, weeks,
    months of 30 days, years of 365 days), counted down: 119 seconds is
    "1 minute ago". Less than 10 seconds either way is "just now".

    Args:
        value: The moment to describe; timezone-aware.
        now: The reference moment; the current time by default. Naive values
            are accepted only when both are naive (taken as the same zone).

    Returns:
        The description.

    Raises:
        TypeError: If ``value`` is not a datetime, or only one of ``value``
            and ``now`` is timezone-aware.
        ValueError: If ``value`` is naive and ``now`` is not given.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"naturaltime() takes a datetime, got `{type(value).__name__}`")
    aware = value.tzinfo is not None and value.utcoffset() is not None
    if now is None:
        if not aware:
            raise ValueError(
                f"naturaltime() got the naive datetime `{value.isoformat()}`, whose zone is "
                "unknown: pass an aware datetime (e.g. `value.replace(tzinfo=UTC)`) or pass "
                "`now` as a naive datetime in the same zone"
            )
        now = datetime.now(UTC)
    elif (now.tzinfo is not None and now.utcoffset() is not None) != aware:
        raise TypeError(
            f"naturaltime() cannot compare `{value.isoformat()}` with `{now.isoformat()}`: "
            "make both timezone-aware (or both naive)"
        )
    delta: timedelta = now - value
    seconds = int(abs(delta.total_seconds()))
    if seconds < _JUST_NOW_SECONDS:
        return "just now"
    unit_seconds, unit = next((size, name) for size, name in _UNITS if seconds >= size)
    count = seconds // unit_seconds
    label = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{label} ago" if delta > timedelta(0) else f"in {label}"
