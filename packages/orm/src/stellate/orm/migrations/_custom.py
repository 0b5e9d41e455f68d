"""Hand-written operations: ``RunSQL`` and ``RunPython`` (private module).

Import these names from :mod:`stellate.orm.migrations.operations`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from stellate.orm.migrations._base import IrreversibleError, MigrationContext, Operation
from stellate.orm.migrations.state import ProjectState


class RunSQL(Operation, tag=True):
    """Run hand-written SQL.

    Attributes:
        sql: one statement or a list of statements.
        reverse_sql: what undoes it; ``None`` makes the migration irreversible,
            ``[]`` makes the reverse a no-op.
        state_operations: operations describing the SQL's effect on the schema, so
            the autodetector and ``db verify`` know about it (e.g. an ``AddIndex``
            matching a hand-tuned ``CREATE INDEX``).
    """

    sql: str | list[str]
    reverse: str | list[str] | None = None
    state_operations: list[Operation] = msgspec.field(default_factory=list)

    @property
    def reversible(self) -> bool:
        return self.reverse is not None

    def state_forwards(self, state: ProjectState) -> None:
        for operation in self.state_operations:
            operation.state_forwards(state)

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [self.sql] if isinstance(self.sql, str) else list(self.sql)

    def reverse_sql(self, state: ProjectState) -> list[str]:
        if self.reverse is None:
            raise IrreversibleError(f"{self.describe()} has no reverse (give `reverse=`)")
        return [self.reverse] if isinstance(self.reverse, str) else list(self.reverse)

    def describe(self) -> str:
        first = self.sql if isinstance(self.sql, str) else (self.sql[0] if self.sql else "")
        first = " ".join(first.split())
        return f"Run SQL `{first[:60]}{'...' if len(first) > 60 else ''}`"


PythonStep = Callable[[MigrationContext], Awaitable[None]]


class RunPython(Operation, tag=True):
    """Run an async Python function (a data migration) inside the migration's transaction.

    Attributes:
        code: ``async def step(ctx: MigrationContext) -> None`` defined at module level
            of the migration file.
        reverse_code: the function undoing it; ``None`` makes the migration irreversible.

    Example:
        ```python
        async def fill_slugs(ctx: MigrationContext) -> None:
            await ctx.execute("UPDATE books SET slug = lower(title) WHERE slug IS NULL")

        operations = [RunPython(code=fill_slugs, reverse_code=RunPython.noop)]
        ```
    """

    code: PythonStep
    reverse_code: PythonStep | None = None

    @staticmethod
    async def noop(ctx: MigrationContext) -> None:
        """A step that does nothing (a reverse for data migrations that need none)."""

    @property
    def reversible(self) -> bool:
        return self.reverse_code is not None

    def state_forwards(self, state: ProjectState) -> None:
        pass

    def forward_sql(self, state: ProjectState) -> list[str]:
        return [f"-- RunPython: {_function_name(self.code)} (Python, not shown as SQL)"]

    def reverse_sql(self, state: ProjectState) -> list[str]:
        if self.reverse_code is None:
            raise IrreversibleError(f"{self.describe()} has no reverse (give `reverse_code=`)")
        return [f"-- RunPython: {_function_name(self.reverse_code)} (Python, not shown as SQL)"]

    async def run(self, context: MigrationContext, *, forwards: bool) -> None:
        """Call the forward or reverse function."""
        step = self.code if forwards else self.reverse_code
        if step is None:
            raise IrreversibleError(f"{self.describe()} has no reverse (give `reverse_code=`)")
        await step(context)

    def describe(self) -> str:
        return f"Run Python `{_function_name(self.code)}`"


def _function_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", repr(function))
