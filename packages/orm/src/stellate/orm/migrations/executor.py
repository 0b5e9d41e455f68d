"""Applying and reversing migrations against a live database.

- One transaction per migration: its operations and its row in
  ``stellate_migrations`` commit together or not at all, so a failure leaves the
  schema and the table exactly as before.
- A session-level advisory lock on a dedicated connection serialises concurrent
  ``migrate`` runs (several deploy hooks starting at once): the second waits, then
  finds the work done. The lock lives on its own connection so no pool reset or
  transaction end can release it early.
- ``lock_timeout`` on the working connection makes DDL give up instead of queueing
  behind a long transaction while every other query queues behind the DDL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import msgspec

from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.loader import Migration, MigrationHistory
from stellate.orm.migrations.risk import (
    DEFAULT_LARGE_TABLE_ROWS,
    Risk,
    assess,
    planned_operations,
    row_estimates,
)
from stellate.orm.migrations.state import ProjectState

__all__ = [
    "MIGRATIONS_TABLE",
    "MigrateResult",
    "MigrationError",
    "MigrationExecutor",
    "MigrationLockTimeout",
    "Step",
]

MIGRATIONS_TABLE = "stellate_migrations"
#: ``pg_advisory_lock`` key: the bytes of "Stellate" as a bigint.
LOCK_KEY = int.from_bytes(b"Stellate", "big") & 0x7FFF_FFFF_FFFF_FFFF

#: Shown in pg_stat_activity, so a DBA can see who holds the lock or waits on a table.
_SERVER_SETTINGS = {"application_name": "stellate migrate"}

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    name TEXT PRIMARY KEY,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration could not be applied or reversed; nothing of it was kept."""


class MigrationLockTimeout(MigrationError):
    """Another process held the migration lock for longer than the wait allowed."""


@dataclass(frozen=True, slots=True)
class Step:
    """One migration to run, in one direction."""

    migration: Migration
    forwards: bool
    state: ProjectState  # the state before the migration runs forward


@dataclass(slots=True)
class MigrateResult:
    """What a ``migrate`` run did."""

    applied: list[str] = field(default_factory=list)
    reversed: list[str] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)


def _no_echo(message: str) -> None:
    pass


class MigrationExecutor:
    """Runs a folder's migrations against one database.

    Args:
        url: the PostgreSQL URL (``postgresql://...``).
        history: the loaded migrations.
        lock_timeout: seconds a DDL statement may wait for a table lock.
        lock_wait: seconds to wait for another ``migrate`` to finish.
        large_table_rows: the size from which risk warnings about locks apply.
        echo: where progress and warnings go (the CLI passes ``click.echo``).
    """

    def __init__(
        self,
        url: str,
        history: MigrationHistory,
        *,
        lock_timeout: float = 5.0,
        lock_wait: float = 600.0,
        large_table_rows: int = DEFAULT_LARGE_TABLE_ROWS,
        echo: Callable[[str], None] = _no_echo,
    ) -> None:
        self.url = url
        self.history = history
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self.large_table_rows = large_table_rows
        self.echo = echo

    # -- reading --------------------------------------------------------------------

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A fresh connection with ``lock_timeout`` set, closed on exit."""
        try:
            conn = await asyncpg.connect(self.url, server_settings=_SERVER_SETTINGS)
        except (OSError, asyncpg.PostgresError) as exc:
            raise MigrationError(
                f"Cannot connect to the database at `{_safe_url(self.url)}`: {exc}; check "
                "STELLATE_DATABASE_URL (or --database-url)"
            ) from None
        try:
            await conn.execute(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
            yield conn
        finally:
            await conn.close()

    async def applied(self, conn: asyncpg.Connection) -> dict[str, str]:
        """Applied migration names and their checksums (empty when never migrated)."""
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MIGRATIONS_TABLE)
        if not exists:
            return {}
        rows = await conn.fetch(f"SELECT name, checksum FROM {MIGRATIONS_TABLE} ORDER BY name")
        return {row["name"]: row["checksum"] for row in rows}

    def problems(self, applied: dict[str, str]) -> list[str]:
        """Applied migrations whose file changed or vanished since they ran."""
        problems = []
        replaced = {r for m in self.history.migrations.values() for r in m.replaces}
        for name, recorded in sorted(applied.items()):
            migration = self.history.migrations.get(name)
            if migration is None:
                if name not in replaced:
                    problems.append(
                        f"Migration `{name}` is recorded as applied but has no file in "
                        f"`{self.history.directory}`: restore it from version control"
                    )
                continue
            if migration.checksum != recorded:
                problems.append(
                    f"Migration `{name}` changed since it was applied (checksum "
                    f"{recorded[:12]}… recorded, file `{migration.path}` is now "
                    f"{migration.checksum[:12]}…): an applied migration must not be edited; "
                    "revert the file and put the change in a new migration"
                )
        return problems

    def is_applied(self, migration: Migration, applied: dict[str, str]) -> bool:
        """Whether ``migration`` (or every migration a squash replaces) is recorded."""
        if migration.name in applied:
            return True
        return bool(migration.replaces) and all(r in applied for r in migration.replaces)

    def plan(self, applied: dict[str, str], target: str | None) -> list[Step]:
        """The steps that bring the database from ``applied`` to ``target``.

        ``target`` is a migration name or prefix (everything up to and including it
        applied, everything after reversed), ``"zero"`` (reverse all) or ``None``
        (apply all).
        """
        chain = self.history.chain(applied)
        if target is None:
            last = len(chain) - 1
        elif target == "zero":
            last = -1
        else:
            last = self.history.find(target, chain)
        states = [ProjectState()]
        for migration in chain:
            state = states[-1].clone()
            for operation in migration.operations:
                operation.state_forwards(state)
            states.append(state)
        steps = [
            Step(migration, True, states[index])
            for index, migration in enumerate(chain[: last + 1])
            if not self.is_applied(migration, applied)
        ]
        steps.extend(
            Step(chain[index], False, states[index])
            for index in range(len(chain) - 1, last, -1)
            if self.is_applied(chain[index], applied)
        )
        return steps

    # -- running --------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        """Hold the migration advisory lock on a dedicated connection."""
        try:
            conn = await asyncpg.connect(self.url, server_settings=_SERVER_SETTINGS)
        except (OSError, asyncpg.PostgresError) as exc:
            raise MigrationError(
                f"Cannot connect to the database at `{_safe_url(self.url)}`: {exc}; check "
                "STELLATE_DATABASE_URL (or --database-url)"
            ) from None
        try:
            started = time.monotonic()
            told = False
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                if not told:
                    self.echo("Another `stellate migrate` holds the migration lock: waiting...")
                    told = True
                if time.monotonic() - started > self.lock_wait:
                    raise MigrationLockTimeout(
                        f"Waited {self.lock_wait:g}s for the migration lock (advisory lock "
                        f"{LOCK_KEY}) held by another process: let it finish, or find it with "
                        "`SELECT pid, backend_start FROM pg_stat_activity WHERE "
                        "application_name = 'stellate migrate'`"
                    )
                await asyncio.sleep(0.1)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await conn.close()

    async def migrate(
        self,
        target: str | None = None,
        *,
        fake: bool = False,
        dry_run: bool = False,
        concurrently_indexes: bool = False,
    ) -> MigrateResult:
        """Apply or reverse migrations up to ``target``.

        Args:
            target: see :meth:`plan`.
            fake: record (or unrecord) the migrations without running their SQL,
                for a database whose schema already matches.
            dry_run: print the SQL that would run and change nothing.
            concurrently_indexes: build indexes on tables that already exist with
                ``CREATE INDEX CONCURRENTLY`` (outside the migration's transaction).

        Raises:
            MigrationError: naming the migration, operation and SQL error; the failed
                migration left nothing behind.
        """
        result = MigrateResult()
        if dry_run:
            async with self.connection() as conn:
                applied = await self.applied(conn)
                result.problems = self.problems(applied)
                steps = self.plan(applied, target)
                await self._assess(conn, steps, result)
                for step in steps:
                    statements = self.step_sql(step, concurrently_indexes=concurrently_indexes)
                    result.sql.append(f"-- {_direction(step)} {step.migration.name}")
                    result.sql.extend(_terminated(s) for s in statements)
                    (result.applied if step.forwards else result.reversed).append(
                        step.migration.name
                    )
            return result

        async with self.lock(), self.connection() as conn:
            await conn.execute(_CREATE_TABLE)
            applied = await self.applied(conn)
            await self._record_squashes(conn, applied)
            result.problems = self.problems(applied)
            for problem in result.problems:
                self.echo(f"WARNING {problem}")
            steps = self.plan(applied, target)
            if not fake:
                await self._assess(conn, steps, result)
                for risk in result.risks:
                    self.echo(str(risk))
            for step in steps:
                verb = "Faking" if fake else ("Applying" if step.forwards else "Reversing")
                self.echo(f"{verb} {step.migration.name}...")
                await self._run(conn, step, fake=fake, concurrently=concurrently_indexes)
                (result.applied if step.forwards else result.reversed).append(step.migration.name)
        return result

    async def _record_squashes(self, conn: asyncpg.Connection, applied: dict[str, str]) -> None:
        """Record a squash whose replaced migrations all ran (on the old path).

        Once recorded, the squash stays applied after its originals are deleted.
        """
        for migration in self.history.migrations.values():
            if (
                migration.replaces
                and migration.name not in applied
                and all(name in applied for name in migration.replaces)
            ):
                await conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (name, checksum) VALUES ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
                applied[migration.name] = migration.checksum

    def step_sql(self, step: Step, *, concurrently_indexes: bool = False) -> list[str]:
        """The statements ``step`` runs (RunPython shows as a comment)."""
        return [sql for _, _, sql in self._statements(step, concurrently_indexes)]

    def _statements(self, step: Step, concurrently: bool) -> list[tuple[int, ops.Operation, str]]:
        operations = _operations(step, concurrently)
        pairs = planned_operations(step.state, operations)
        result: list[tuple[int, ops.Operation, str]] = []
        indexed = list(enumerate(pairs, 1))
        if not step.forwards:
            indexed.reverse()
        for index, (operation, before) in indexed:
            if not step.forwards and not operation.reversible:
                raise MigrationError(
                    f"Migration `{step.migration.name}` cannot be reversed: operation {index} "
                    f"({operation.describe()}) has no reverse"
                )
            statements = (
                operation.forward_sql(before) if step.forwards else operation.reverse_sql(before)
            )
            result.extend((index, operation, sql) for sql in statements)
        return result

    async def _assess(
        self, conn: asyncpg.Connection, steps: Sequence[Step], result: MigrateResult
    ) -> None:
        for step in steps:
            if not step.forwards:
                continue
            pairs = planned_operations(step.state, step.migration.operations)
            tables = [op.table_name for op, _ in pairs if op.table_name is not None]
            rows = await row_estimates(conn, tables, large_table_rows=self.large_table_rows)
            result.risks.extend(
                assess(
                    pairs,
                    rows,
                    migration=step.migration.name,
                    large_table_rows=self.large_table_rows,
                )
            )

    async def _run(
        self, conn: asyncpg.Connection, step: Step, *, fake: bool, concurrently: bool
    ) -> None:
        migration = step.migration
        if fake:
            async with conn.transaction():
                await self._record(conn, step)
            return
        operations = _operations(step, concurrently)
        if not step.forwards:
            for index, operation in enumerate(operations, 1):
                if not operation.reversible:
                    raise MigrationError(
                        f"Migration `{migration.name}` cannot be reversed: operation {index} "
                        f"({operation.describe()}) has no reverse; nothing was changed"
                    )
        pairs = planned_operations(step.state, operations)
        indexed = list(enumerate(pairs, 1))
        if not step.forwards:
            indexed.reverse()
        # Group operations into transactions: everything together unless an operation
        # must run outside one (CREATE INDEX CONCURRENTLY) or the file opted out.
        groups: list[list[tuple[int, ops.Operation, ProjectState]]] = []
        for index, (operation, before) in indexed:
            alone = not operation.transactional or not migration.atomic
            if alone or not groups or groups[-1][-1][1].transactional is False:
                groups.append([(index, operation, before)])
            else:
                groups[-1].append((index, operation, before))
        for number, group in enumerate(groups):
            last = number == len(groups) - 1
            if all(op.transactional for _, op, _ in group) and migration.atomic:
                async with conn.transaction():
                    for index, operation, before in group:
                        await self._run_operation(conn, step, index, operation, before)
                    if last:
                        await self._record(conn, step)
            else:
                for index, operation, before in group:
                    await self._run_operation(conn, step, index, operation, before)
                if last:
                    await self._record(conn, step)

    async def _run_operation(
        self,
        conn: asyncpg.Connection,
        step: Step,
        index: int,
        operation: ops.Operation,
        before: ProjectState,
    ) -> None:
        name = step.migration.name
        if not step.forwards and not operation.reversible:
            raise MigrationError(
                f"Migration `{name}` cannot be reversed: operation {index} "
                f"({operation.describe()}) has no reverse"
            )
        if isinstance(operation, ops.RunPython):
            try:
                await operation.run(ops.MigrationContext(conn, before), forwards=step.forwards)
            except Exception as exc:
                raise MigrationError(
                    f"Migration `{name}` failed at operation {index} ({operation.describe()}): "
                    f"{type(exc).__name__}: {exc}. {_untouched(operation)}"
                ) from exc
            return
        statements = (
            operation.forward_sql(before) if step.forwards else operation.reverse_sql(before)
        )
        for sql in statements:
            try:
                await conn.execute(sql)
            except asyncpg.PostgresError as exc:
                if isinstance(operation, ops.AddIndex) and operation.concurrently:
                    # A failed concurrent build leaves an INVALID index behind.
                    await conn.execute(f"DROP INDEX IF EXISTS {_quote(operation.index.name)}")
                raise MigrationError(
                    f"Migration `{name}` failed at operation {index} ({operation.describe()}): "
                    f"{type(exc).__name__}: {exc}\n  SQL: {sql}\n{_untouched(operation)}"
                ) from exc

    async def _record(self, conn: asyncpg.Connection, step: Step) -> None:
        migration = step.migration
        names = [migration.name, *migration.replaces]
        if step.forwards:
            await conn.executemany(
                f"INSERT INTO {MIGRATIONS_TABLE} (name, checksum) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum",
                [(name, self._checksum(name)) for name in names],
            )
        else:
            await conn.execute(
                f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = ANY($1::text[])", names
            )

    def _checksum(self, name: str) -> str:
        migration = self.history.migrations.get(name)
        return migration.checksum if migration is not None else ""


def _operations(step: Step, concurrently: bool) -> list[ops.Operation]:
    operations = step.migration.operations
    if not (concurrently and step.forwards):
        return list(operations)
    # Only tables that existed before this migration can be busy; indexes on a
    # table created in the same migration are built in its transaction.
    return [
        msgspec.structs.replace(op, concurrently=True)
        if isinstance(op, ops.AddIndex) and op.table in step.state.tables
        else op
        for op in operations
    ]


def _untouched(operation: ops.Operation) -> str:
    if not operation.transactional:
        return (
            "This statement ran outside a transaction: operations before it in the same "
            "migration are committed, and the migration is not recorded."
        )
    return "The migration was rolled back: the schema and `stellate_migrations` are unchanged."


def _direction(step: Step) -> str:
    return "Apply" if step.forwards else "Reverse"


def _terminated(sql: str) -> str:
    return sql if sql.startswith("--") else sql.rstrip().rstrip(";") + ";"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
