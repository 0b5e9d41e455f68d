"""Login throttling per client address and per username, shared by every worker.

Counters live in an UNLOGGED PostgreSQL table, so all workers on all machines see
the same failures (process memory would let an attacker spread guesses over
workers). After ``limit`` failures for a username (``ip_limit`` for an address)
within ``window`` seconds, the key is locked for
``lockout`` seconds; the login route answers 429 with ``Retry-After`` meanwhile.
A successful login clears the username's counter (not the address's: one good
password from a shared address must not reset an attack from it).
"""

from __future__ import annotations

import math

from stellate.auth._db import SQLDatabase, resolve_database

__all__ = ["LoginThrottle"]


def username_key(username: str) -> str:
    """The counter key of ``username``: case-folded, and storable as PostgreSQL text.

    PostgreSQL text cannot hold NUL; such a name is never a real account, but its
    failures must still count (and lock) rather than fail the statement.
    """
    return "user:" + username.strip().lower().replace("\x00", "\\x00")


class LoginThrottle:
    """Counts failed logins and locks out addresses and usernames that fail too often.

    Args:
        limit: failures allowed per username within ``window``.
        ip_limit: failures allowed per client address within ``window``; higher, since
            many people share an address behind NAT (default: 10 times ``limit``).
        window: seconds over which failures are counted.
        lockout: seconds a key stays locked once it reaches ``limit``.
        database: a ``stellate.orm.Database`` or its alias.
        table: the UNLOGGED table of counters.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        ip_limit: int | None = None,
        window: float = 15 * 60,
        lockout: float = 15 * 60,
        database: SQLDatabase | str = "default",
        table: str = "stellate_login_attempts",
    ) -> None:
        if limit < 1:
            raise ValueError(f"LoginThrottle `limit` must be at least 1, got `{limit}`")
        if window <= 0 or lockout <= 0:
            raise ValueError(
                f"LoginThrottle `window` and `lockout` must be positive seconds, got "
                f"`{window}` and `{lockout}`"
            )
        if not table.replace("_", "").isalnum():
            raise ValueError(f"LoginThrottle `table` `{table}` must be a plain SQL identifier")
        self.limit = limit
        self.ip_limit = ip_limit if ip_limit is not None else 10 * limit
        if self.ip_limit < 1:
            raise ValueError(f"LoginThrottle `ip_limit` must be at least 1, got `{ip_limit}`")
        self.window = float(window)
        self.lockout = float(lockout)
        self._database = database
        self.table = table

    @property
    def db(self) -> SQLDatabase:
        return resolve_database(self._database)

    @staticmethod
    def keys(ip: str, username: str) -> list[str]:
        """The counters one attempt touches."""
        return [f"ip:{ip}", username_key(username)]

    async def ensure_table(self) -> None:
        """Create the counter table when missing."""
        await self.db.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {self.table} ("
            "key text PRIMARY KEY, failures integer NOT NULL, "
            "window_start timestamptz NOT NULL, locked_until timestamptz)"
        )

    async def retry_after(self, ip: str, username: str) -> int | None:
        """Seconds until the attempt may be made, or ``None`` when it is not locked."""
        remaining = await self.db.fetchval(
            f"SELECT max(extract(epoch FROM locked_until - now())) FROM {self.table} "
            "WHERE key = ANY($1::text[]) AND locked_until > now()",
            self.keys(ip, username),
        )
        return None if remaining is None else max(1, math.ceil(float(remaining)))

    async def failure(self, ip: str, username: str) -> int | None:
        """Count a failed attempt; returns the lockout in seconds when it starts one."""
        # One atomic upsert for both keys: a new window starts when the old one has
        # passed (or a lock expired), and the lock is set by the same statement that
        # reaches the limit, so workers counting at once cannot both miss it.
        fresh = "(t.window_start < now() - make_interval(secs => $2) OR t.locked_until <= now())"
        limit = "(CASE WHEN t.key LIKE 'ip:%' THEN $5::integer ELSE $3::integer END)"
        rows = await self.db.fetch(
            f"INSERT INTO {self.table} AS t (key, failures, window_start, locked_until) "
            f"SELECT k, 1, now(), CASE WHEN 1 >= {limit.replace('t.key', 'k')} "
            "THEN now() + make_interval(secs => $4) END "
            "FROM unnest($1::text[]) AS k ON CONFLICT (key) DO UPDATE SET "
            f"failures = CASE WHEN {fresh} THEN 1 ELSE t.failures + 1 END, "
            f"window_start = CASE WHEN {fresh} THEN now() ELSE t.window_start END, "
            f"locked_until = CASE WHEN (CASE WHEN {fresh} THEN 1 ELSE t.failures + 1 END) "
            f">= {limit} "
            f"THEN now() + make_interval(secs => $4) WHEN {fresh} THEN NULL "
            "ELSE t.locked_until END "
            "RETURNING t.locked_until IS NOT NULL AND t.locked_until > now() AS locked",
            self.keys(ip, username),
            self.window,
            self.limit,
            self.lockout,
            self.ip_limit,
        )
        return math.ceil(self.lockout) if any(row["locked"] for row in rows) else None

    async def success(self, username: str) -> None:
        """Clear the username's counter after a successful login."""
        await self.db.execute(f"DELETE FROM {self.table} WHERE key = $1", username_key(username))

    async def reset(self, *, ip: str | None = None, username: str | None = None) -> None:
        """Lift the lock and counter of an address and/or username (an admin action)."""
        keys = []
        if ip is not None:
            keys.append(f"ip:{ip}")
        if username is not None:
            keys.append(username_key(username))
        await self.db.execute(f"DELETE FROM {self.table} WHERE key = ANY($1::text[])", keys)
