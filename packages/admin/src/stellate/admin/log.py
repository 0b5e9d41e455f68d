"""The admin log: who changed which object, when, and which fields.

Every add, change and delete made through the admin writes one ``AdminLogEntry`` row
(table ``stellate_admin_log``, created at startup when missing) in the same
transaction as the change itself, so a rolled-back save leaves no entry.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import Any

from stellate.orm import Field, Model, get_db

__all__ = ["AdminAction", "AdminLogEntry", "ensure_log_table", "record_action"]

LOG_TABLE = "stellate_admin_log"


class AdminAction(enum.StrEnum):
    """What an admin log entry records."""

    ADD = "add"
    CHANGE = "change"
    DELETE = "delete"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AdminLogEntry(Model):
    """One change made through the admin."""

    class Meta:
        table = LOG_TABLE

    id: int = Field(primary_key=True, auto=True)
    action_time: dt.datetime = Field(default=_now)
    user_id: int | None = Field(default=None)
    username: str = Field(default="")
    app_label: str = Field(max_length=100)
    model_name: str = Field(max_length=100)
    object_id: str = Field(max_length=200)
    object_repr: str = Field(default="", max_length=200)
    action: AdminAction = Field()
    changed_fields: list[Any] = Field(default=list)
    message: str = Field(default="")

    def __str__(self) -> str:
        return f"{self.action.value} {self.model_name} {self.object_repr}"


async def ensure_log_table(database: str = "default") -> None:
    """Create ``stellate_admin_log`` and its indexes when they are missing."""
    db = get_db(database)
    await db.execute(
        f"CREATE TABLE IF NOT EXISTS {LOG_TABLE} ("
        "id SERIAL PRIMARY KEY, action_time TIMESTAMPTZ NOT NULL DEFAULT now(), "
        "user_id INTEGER, username TEXT NOT NULL DEFAULT '', app_label TEXT NOT NULL, "
        "model_name TEXT NOT NULL, object_id TEXT NOT NULL, "
        "object_repr TEXT NOT NULL DEFAULT '', action TEXT NOT NULL, "
        "changed_fields JSONB NOT NULL DEFAULT '[]', message TEXT NOT NULL DEFAULT '')"
    )
    await db.execute(
        f"CREATE INDEX IF NOT EXISTS {LOG_TABLE}_object_idx "
        f"ON {LOG_TABLE} (app_label, model_name, object_id, id)"
    )


async def record_action(
    user: Any,
    *,
    app_label: str,
    model_name: str,
    object_id: Any,
    object_repr: str,
    action: AdminAction,
    changed_fields: Sequence[str] = (),
    message: str = "",
) -> AdminLogEntry:
    """Write one log entry for ``user`` (the request's principal)."""
    entry = AdminLogEntry(
        user_id=user.get("id") if isinstance(user, dict) else None,
        username=str(user.get("username", "")) if isinstance(user, dict) else "",
        app_label=app_label,
        model_name=model_name,
        object_id=str(object_id)[:200],
        object_repr=object_repr[:200],
        action=action,
        changed_fields=list(changed_fields),
        message=message,
    )
    await entry.save()
    return entry
