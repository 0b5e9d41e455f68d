"""Helpers shared by the auth tests (a module name unique across tests/)."""

from __future__ import annotations

from stellate.orm.database import QueryEvent


class Clock:
    """A clock tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class QueryLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, event: QueryEvent) -> None:
        self.statements.append(event.sql)

    def clear(self) -> None:
        self.statements.clear()
