"""The base of migration operations and what data migrations receive (private module).

Import these names from :mod:`stellate.orm.migrations.operations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from stellate.orm.migrations.state import ProjectState

if TYPE_CHECKING:
    import asyncpg


class IrreversibleError(Exception):
    """An operation without a reverse was asked to run backwards."""


class MigrationContext:
    """What a :class:`RunPython` function receives.

    Attributes:
        connection: the asyncpg connection running the migration's transaction.
        state: the schema as of this point of the migration history (use it instead
            of importing today's models, which may not match the historical schema).
    """

    __slots__ = ("connection", "state")

    def __init__(self, connection: asyncpg.Connection, state: ProjectState) -> None:
        self.connection = connection
        self.state = state

    async def execute(self, sql: str, *args: Any) -> str:
        """Run ``sql`` with ``$n`` parameters inside the migration's transaction."""
        return str(await self.connection.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows of ``sql`` inside the migration's transaction."""
        return list(await self.connection.fetch(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first value of the first row of ``sql``."""
        return await self.connection.fetchval(sql, *args)


class Operation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base class of migration operations."""

    def state_forwards(self, state: ProjectState) -> None:
        """Apply this operation's effect to ``state`` (in place).

        Raises:
            StateError: when the operation does not fit ``state``.
        """
        raise NotImplementedError

    def forward_sql(self, state: ProjectState) -> list[str]:
        """The statements that apply this operation to a database at ``state``."""
        raise NotImplementedError

    def reverse_sql(self, state: ProjectState) -> list[str]:
        """The statements that undo this operation (``state`` is the state before it).

        Raises:
            IrreversibleError: when the operation has no reverse.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """A one-line human description."""
        raise NotImplementedError

    @property
    def reversible(self) -> bool:
        """Whether :meth:`reverse_sql` can undo this operation."""
        return True

    @property
    def transactional(self) -> bool:
        """False for statements PostgreSQL refuses inside a transaction block."""
        return True

    @property
    def table_name(self) -> str | None:
        """The table this operation changes, if it changes exactly one."""
        return getattr(self, "table", None)

    def __str__(self) -> str:
        return self.describe()
