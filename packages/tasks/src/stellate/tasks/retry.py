"""When a failed task runs again, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backoff", "RetryPolicy"]

Backoff = Literal["fixed", "exponential"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry rules of one task.

    Args:
        max_retries: runs after the first one (``0``: never retry).
        retry_delay: seconds before the first retry.
        backoff: ``"fixed"`` waits ``retry_delay`` every time; ``"exponential"`` doubles
            it after each attempt (``retry_delay * 2 ** (attempt - 1)``).
        jitter: spread retries of many jobs: the delay becomes a random value between
            half of it and all of it ("equal jitter").
        max_delay: upper bound of any delay, in seconds.
        retry_on: exception types that retry; any other exception fails the job at once.

    Raises:
        ValueError: for an out-of-range number or an unknown ``backoff``.
        TypeError: when ``retry_on`` holds something that is not an exception type.
    """

    max_retries: int = 0
    retry_delay: float = 1.0
    backoff: Backoff = "fixed"
    jitter: bool = False
    max_delay: float = 300.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries=`{self.max_retries!r}` must be an integer >= 0")
        if self.retry_delay < 0:
            raise ValueError(f"retry_delay=`{self.retry_delay!r}` must be >= 0 seconds")
        if self.max_delay < 0:
            raise ValueError(f"max_delay=`{self.max_delay!r}` must be >= 0 seconds")
        if self.backoff not in ("fixed", "exponential"):
            raise ValueError(
                f"backoff=`{self.backoff!r}` is not supported: use `fixed` or `exponential`"
            )
        for item in self.retry_on:
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                raise TypeError(
                    f"retry_on holds `{item!r}`, which is not an exception type: "
                    "give exception classes, e.g. retry_on=(ConnectionError,)"
                )

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) that raised ``exc`` runs again."""
        return attempt <= self.max_retries and isinstance(exc, self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = self.retry_delay
        if self.backoff == "exponential":
            base *= 2 ** (attempt - 1)
        base = min(base, self.max_delay)
        if self.jitter:
            # Not security related: only spreads retries of many jobs over time.
            base = base / 2 + random.uniform(0, base / 2)  # noqa: S311
        return base
