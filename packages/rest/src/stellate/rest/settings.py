"""Settings of the `rest` plugin, read from ``STELLATE_*`` variables."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["RestSettings"]


class RestSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of stellate-rest.

    Attributes:
        throttle_store: Where throttle counters live (``STELLATE_THROTTLE_STORE``):
            ``auto`` (Redis when ``redis_url`` is set, else PostgreSQL), ``postgres``,
            ``redis`` or ``memory`` (one process only).
        redis_url: The Redis for ``redis``/``auto`` (``STELLATE_REDIS_URL`` or
            ``REDIS_URL``).
    """

    throttle_store: Literal["auto", "postgres", "redis", "memory"] = "auto"
    redis_url: Annotated[str | None, msgspec.Meta(extra={"env": ["REDIS_URL"]})] = None
