"""time_bucket_cached (buckets, FIFO eviction, errors) and naturaltime."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stellate.core.humanize import naturaltime, time_bucket_cached


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_same_arguments_in_one_bucket_compute_once() -> None:
    clock = ManualClock(1000.0)  # bucket 33 with 30-second buckets (990..1020)
    calls: list[str] = []

    @time_bucket_cached(bucket_seconds=30, clock=clock)
    def time_ago(timestamp: str) -> str:
        calls.append(timestamp)
        return f"label for {timestamp} at {clock.now}"

    # A page listing the same created_at twenty times.
    labels = [time_ago("2026-05-01T10:00:00Z") for _ in range(20)]
    assert calls == ["2026-05-01T10:00:00Z"]
    assert set(labels) == {"label for 2026-05-01T10:00:00Z at 1000.0"}

    clock.now = 1019.9  # still bucket 33
    assert time_ago("2026-05-01T10:00:00Z").endswith("at 1000.0")
    clock.now = 1020.0  # bucket 34: recomputed
    assert time_ago("2026-05-01T10:00:00Z").endswith("at 1020.0")
    assert len(calls) == 2


def test_arguments_and_keywords_are_separate_keys() -> None:
    clock = ManualClock()
    calls: list[tuple[object, ...]] = []

    @time_bucket_cached(bucket_seconds=60, clock=clock)
    def label(value: int, *, suffix: str = "") -> str:
        calls.append((value, suffix))
        return f"{value}{suffix}"

    assert label(1) == "1"
    assert label(2) == "2"
    assert label(1, suffix="!") == "1!"
    assert label(1, suffix="?") == "1?"
    assert label(1) == "1"
    assert label(1, suffix="!") == "1!"
    assert calls == [(1, ""), (2, ""), (1, "!"), (1, "?")]


def test_eviction_is_first_in_first_out() -> None:
    clock = ManualClock()
    calls: list[int] = []

    @time_bucket_cached(bucket_seconds=60, maxsize=3, clock=clock)
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    for n in (1, 2, 3):
        square(n)
    square(1)  # a hit; FIFO does not move it to the back
    assert square.cache_size() == 3
    square(4)  # evicts 1, the oldest insertion
    assert square.cache_size() == 3
    square(2)
    square(3)
    assert calls == [1, 2, 3, 4]
    square(1)
    assert calls == [1, 2, 3, 4, 1]


def test_cache_clear_and_metadata() -> None:
    clock = ManualClock()
    calls = 0

    @time_bucket_cached(bucket_seconds=5, clock=clock)
    def documented(n: int) -> int:
        """Return n."""
        nonlocal calls
        calls += 1
        return n

    documented(1)
    documented.cache_clear()
    assert documented.cache_size() == 0
    documented(1)
    assert calls == 2
    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Return n."
    assert documented.__wrapped__(7) == 7


def test_real_monotonic_clock_moves_buckets() -> None:
    calls = 0

    @time_bucket_cached(bucket_seconds=0.05)
    def now_label() -> int:
        nonlocal calls
        calls += 1
        return calls

    first = now_label()
    time.sleep(0.06)
    assert now_label() == first + 1


def test_unhashable_arguments_name_the_function() -> None:
    @time_bucket_cached(bucket_seconds=30)
    def join(items: list[str]) -> str:
        return ",".join(items)

    with pytest.raises(TypeError, match=r"`.*join` is time_bucket_cached.*must be hashable"):
        join(["a", "b"])


def test_bare_decorator_is_refused() -> None:
    with pytest.raises(TypeError, match=r"needs parentheses: write `@time_bucket_cached\(\)`"):

        @time_bucket_cached  # type: ignore[arg-type]
        def f() -> None:
            return None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket_seconds": 0}, r"`bucket_seconds` must be a positive number, got `0`"),
        ({"bucket_seconds": -1.5}, r"`bucket_seconds` must be a positive number"),
        ({"bucket_seconds": float("nan")}, r"`bucket_seconds` must be a positive number"),
        ({"bucket_seconds": float("inf")}, r"`bucket_seconds` must be a positive number"),
        ({"bucket_seconds": "30"}, r"`bucket_seconds` must be a positive number"),
        ({"maxsize": 0}, r"`maxsize` must be an int >= 1, got `0`"),
        ({"maxsize": 2.5}, r"`maxsize` must be an int >= 1"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        time_bucket_cached(**kwargs)  # type: ignore[arg-type]


NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=-9), "just now"),
        (timedelta(seconds=9.9), "just now"),
        (timedelta(seconds=-10), "10 seconds ago"),
        (timedelta(seconds=-59), "59 seconds ago"),
        (timedelta(seconds=-60), "1 minute ago"),
        (timedelta(seconds=-119), "1 minute ago"),
        (timedelta(minutes=-5), "5 minutes ago"),
        (timedelta(hours=-1), "1 hour ago"),
        (timedelta(hours=-23, minutes=-59), "23 hours ago"),
        (timedelta(days=-1), "1 day ago"),
        (timedelta(days=-6), "6 days ago"),
        (timedelta(days=-14), "2 weeks ago"),
        (timedelta(days=-45), "1 month ago"),
        (timedelta(days=-364), "12 months ago"),
        (timedelta(days=-365 * 3), "3 years ago"),
        (timedelta(seconds=30), "in 30 seconds"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(hours=2), "in 2 hours"),
        (timedelta(days=3), "in 3 days"),
        (timedelta(days=800), "in 2 years"),
    ],
)
def test_naturaltime(offset: timedelta, expected: str) -> None:
    assert naturaltime(NOW + offset, now=NOW) == expected


def test_naturaltime_compares_instants_across_zones() -> None:
    paris = timezone(timedelta(hours=2))
    assert naturaltime(NOW.astimezone(paris), now=NOW) == "just now"
    assert naturaltime(datetime(2026, 5, 1, 13, 55, tzinfo=paris), now=NOW) == "5 minutes ago"


def test_naturaltime_defaults_to_the_current_time() -> None:
    assert naturaltime(datetime.now(UTC) - timedelta(minutes=5, seconds=2)) == "5 minutes ago"
    assert naturaltime(datetime.now(UTC)) == "just now"
    assert naturaltime(datetime.now(UTC) + timedelta(hours=2, seconds=5)) == "in 2 hours"


def test_naturaltime_naive_values() -> None:
    naive_now = datetime(2026, 5, 1, 12, 0, 0)
    assert naturaltime(naive_now - timedelta(hours=3), now=naive_now) == "3 hours ago"
    with pytest.raises(ValueError, match=r"naive datetime `2026-05-01T12:00:00`.*aware datetime"):
        naturaltime(naive_now)
    with pytest.raises(TypeError, match=r"cannot compare .* make both timezone-aware"):
        naturaltime(naive_now, now=NOW)
    with pytest.raises(TypeError, match=r"cannot compare"):
        naturaltime(NOW, now=naive_now)


def test_naturaltime_rejects_other_types() -> None:
    with pytest.raises(TypeError, match=r"takes a datetime, got `str`"):
        naturaltime("2026-05-01")  # type: ignore[arg-type]


def test_naturaltime_cached_per_bucket() -> None:
    clock = ManualClock()
    cached = time_bucket_cached(bucket_seconds=30, clock=clock)(naturaltime)
    created = NOW - timedelta(minutes=5)
    assert cached(created, NOW) == "5 minutes ago"
    assert cached(created, NOW) == "5 minutes ago"
    assert cached.cache_size() == 1
