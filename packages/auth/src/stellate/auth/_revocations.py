"""Pushes session revocations to every worker with PostgreSQL LISTEN/NOTIFY.

A logout deletes the session record, which every worker sees at its next check of
that session (``recheck_interval``). With this feed running, the worker that logs a
session out also NOTIFYs the channel below and every listening worker adds the
session to its revoked set within milliseconds, so a copied cookie stops working
everywhere at once, reads included. If the listening connection drops, nothing is
lost but that immediacy: the periodic record check still applies, and the feed
reconnects on the next request that finds it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = ["CHANNEL", "RevocationFeed", "session_message", "user_message"]

logger = logging.getLogger("stellate.auth.sessions")

CHANNEL = "stellate_session_revoked"


def session_message(sid_hash: str, until: float) -> str:
    """The NOTIFY payload revoking one session (by the hash of its id) until ``until``."""
    return f"s:{sid_hash}:{until!r}"


def user_message(user_id: int, before: float) -> str:
    """The NOTIFY payload revoking every session of ``user_id`` started before ``before``."""
    return f"u:{user_id}:{before!r}"


class RevocationFeed:
    """Listens on :data:`CHANNEL` and applies revocations through two callbacks."""

    def __init__(
        self,
        on_session: Callable[[str, float], None],
        on_user: Callable[[int, float], None],
    ) -> None:
        self._on_session = on_session
        self._on_user = on_user
        self._connection: Any = None
        self._url: str | None = None
        self._reconnecting: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed()

    async def start(self, url: str) -> None:
        """Open a dedicated connection and LISTEN (not a pooled one: it is held forever)."""
        self._url = url
        connection = await asyncpg.connect(url)
        await connection.add_listener(CHANNEL, self._notified)
        connection.add_termination_listener(self._lost)
        self._connection = connection

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._url = None
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            # A deliberate close is not a lost feed: no warning for it.
            connection.remove_termination_listener(self._lost)
            await connection.close()

    def ensure_listening(self) -> None:
        """Start reconnecting in the background when the feed was lost."""
        if self._url is None or self.listening or self._reconnecting is not None:
            return
        self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            if self._url is not None:
                await self.start(self._url)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("Session revocation feed still down: %s", exc)
        finally:
            self._reconnecting = None

    def _lost(self, connection: Any) -> None:
        logger.warning(
            "Session revocation feed lost its connection: logouts on other workers now "
            "take effect at the next session check until it reconnects"
        )

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
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
