"""Throttling (rate limits) for API views."""

from __future__ import annotations

from typing import Any

__all__ = ["BaseThrottle"]


class BaseThrottle:
    """A rate limit checked before a view's handler; raise ``Throttled`` to refuse."""

    async def check(self, request: Any, view: Any) -> None:
        """Raise ``Throttled`` when ``request`` is over the limit."""
