"""The security audit log: authentication, authorization and abuse events.

Events go to an UNLOGGED PostgreSQL table: writes skip the WAL, so logging every
login attempt costs little, and the rows survive restarts of the server process
but not a crash of PostgreSQL itself (it truncates UNLOGGED tables). Treat it as a
working log for abuse detection and recent audit, and archive it elsewhere when
regulations require long retention.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec
from starlette.requests import HTTPConnection

from stellate.auth._db import SQLDatabase, resolve_database

__all__ = [
    "SecurityEvent",
    "SecurityLog",
    "SecurityRecord",
    "get_security_log",
    "set_security_log",
]


class SecurityEvent(enum.Enum):
    """What happened."""

    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    PERMISSION_DENIED = "permission_denied"
    CSRF_VIOLATION = "csrf_violation"
    RATE_LIMIT_HIT = "rate_limit_hit"
    SESSION_FIXATION_ATTEMPT = "session_fixation_attempt"


class SecurityRecord(msgspec.Struct, frozen=True):
    """One logged event."""

    id: int
    event: SecurityEvent
    user_id: int | None
    ip: str
    user_agent: str
    path: str
    detail: str
    created_at: datetime


_COLUMNS = "id, event, user_id, ip, user_agent, path, detail, created_at"


class SecurityLog:
    """Writes and queries security events.

    Args:
        db: a ``stellate.orm.Database`` (``SecurityLog(get_db())``) or a database alias.
        table: the table name.

    Example:
        ```python
        log = SecurityLog(get_db())
        await log.ensure_table()
        await log.log_from_request(SecurityEvent.LOGIN_FAILED, request, detail="user=alice")
        failed = await log.count_by_ip("1.2.3.4", SecurityEvent.LOGIN_FAILED, since_hours=1)
        ```
    """

    def __init__(self, db: SQLDatabase | str = "default", *, table: str = "stellate_security_log"):
        if not table.replace("_", "").isalnum():
            raise ValueError(f"Security log table `{table}` must be a plain SQL identifier")
        self._db = db
        self.table = table

    @property
    def db(self) -> SQLDatabase:
        return resolve_database(self._db)

    async def ensure_table(self) -> None:
        """Create the table and its indexes when missing."""
        t = self.table
        await self.db.execute(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {t} ("
            "id bigserial PRIMARY KEY, event text NOT NULL, user_id bigint, "
            "ip text NOT NULL DEFAULT '', user_agent text NOT NULL DEFAULT '', "
            "path text NOT NULL DEFAULT '', detail text NOT NULL DEFAULT '', "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        await self.db.execute(
            f"CREATE INDEX IF NOT EXISTS {t}_event_time ON {t} (event, created_at)"
        )
        await self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_ip_time ON {t} (ip, created_at)")
        await self.db.execute(
            f"CREATE INDEX IF NOT EXISTS {t}_user_time ON {t} (user_id, created_at)"
        )

    async def log(
        self,
        event: SecurityEvent,
        *,
        user_id: int | None = None,
        ip: str = "",
        user_agent: str = "",
        path: str = "",
        detail: str = "",
    ) -> None:
        """Record ``event``. Never put a password, token or key in ``detail``."""
        await self.db.execute(
            f"INSERT INTO {self.table} (event, user_id, ip, user_agent, path, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            SecurityEvent(event).value,
            user_id,
            ip,
            user_agent[:512],
            path[:1024],
            detail[:1024],
        )

    async def log_from_request(
        self,
        event: SecurityEvent,
        request: HTTPConnection,
        *,
        user_id: int | None = None,
        detail: str = "",
    ) -> None:
        """Record ``event`` with the client address, user agent and path of ``request``.

        ``user_id`` defaults to the id of ``request.user`` when someone is logged in.
        """
        if user_id is None:
            user = request.scope.get("user")
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                user_id = user["id"]
        await self.log(
            event,
            user_id=user_id,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            path=request.url.path,
            detail=detail,
        )

    async def get_recent(self, limit: int = 50) -> list[SecurityRecord]:
        """The latest events of every kind, newest first."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM {self.table} ORDER BY id DESC LIMIT $1", limit
        )
        return [_record(row) for row in rows]

    async def get_by_event(
        self, event: SecurityEvent, *, since_hours: float = 24, limit: int = 1000
    ) -> list[SecurityRecord]:
        """Events of one kind from the last ``since_hours`` hours, newest first."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE event = $1 "
            "AND created_at >= now() - make_interval(secs => $2) ORDER BY id DESC LIMIT $3",
            SecurityEvent(event).value,
            float(since_hours) * 3600,
            limit,
        )
        return [_record(row) for row in rows]

    async def count_by_ip(
        self, ip: str, event: SecurityEvent | None = None, *, since_hours: float = 1
    ) -> int:
        """How many events (of one kind, or all) came from ``ip`` in the last hours."""
        count = await self.db.fetchval(
            f"SELECT count(*) FROM {self.table} WHERE ip = $1 "
            "AND ($2::text IS NULL OR event = $2) "
            "AND created_at >= now() - make_interval(secs => $3)",
            ip,
            None if event is None else SecurityEvent(event).value,
            float(since_hours) * 3600,
        )
        return int(count)

    async def get_for_user(self, user_id: int, *, limit: int = 100) -> list[SecurityRecord]:
        """Events of one user, newest first (audit trail)."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM {self.table} WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            user_id,
            limit,
        )
        return [_record(row) for row in rows]


def _record(row: Any) -> SecurityRecord:
    return SecurityRecord(
        id=row["id"],
        event=SecurityEvent(row["event"]),
        user_id=row["user_id"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        path=row["path"],
        detail=row["detail"],
        created_at=row["created_at"],
    )


def client_ip(connection: HTTPConnection) -> str:
    """The client address of ``connection`` as the server saw it.

    Behind a proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips`` so this is
    the real client: trusting ``X-Forwarded-For`` from anyone would let a client pick
    the address that throttling and the log record.
    """
    client = connection.client
    return client.host if client is not None else ""


class _Holder:
    log: SecurityLog | None = None


def set_security_log(log: SecurityLog | None) -> None:
    """Make ``log`` the one :func:`get_security_log` returns (the reference API).

    The auth plugin passes its log to the parts it wires explicitly; this process-wide
    slot exists for application code written against the guide.
    """
    _Holder.log = log


def get_security_log() -> SecurityLog | None:
    """The log given to :func:`set_security_log`, or ``None``."""
    return _Holder.log
