"""What the migration commands do (private: imported when a command runs).

:mod:`stellate.orm.migrations.commands` only declares the click commands, so an app
that registers them at startup does not import the migration machinery.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import click

from stellate.core.exceptions import ImproperlyConfigured
from stellate.core.settings import SettingsError
from stellate.orm.migrations.autodetector import AutodetectorError, detect_changes, suggest_name
from stellate.orm.migrations.config import (
    MigrationSettings,
    configured_url,
    database_url,
    load_migration_settings,
)
from stellate.orm.migrations.executor import MigrationError, MigrationExecutor
from stellate.orm.migrations.loader import (
    SNAPSHOT_FILE,
    MigrationFileError,
    MigrationHistory,
    load_history,
    read_snapshot,
    snapshot_bytes,
)
from stellate.orm.migrations.operations import IrreversibleError
from stellate.orm.migrations.risk import Risk, assess, planned_operations, row_estimates
from stellate.orm.migrations.squash import squash_plan
from stellate.orm.migrations.state import ProjectState, StateError
from stellate.orm.migrations.verify import schema_drift
from stellate.orm.migrations.writer import migration_source, write_migration

T = TypeVar("T")

_EXPECTED = (
    MigrationError,
    MigrationFileError,
    AutodetectorError,
    IrreversibleError,
    StateError,
    ImproperlyConfigured,
    SettingsError,
)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``, turning expected failures into a clean CLI error (exit 1)."""
    try:
        return asyncio.run(coroutine)
    except _EXPECTED as exc:
        raise click.ClickException(str(exc)) from None


def _settings() -> MigrationSettings:
    try:
        return load_migration_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _directory(option: Path | None) -> Path:
    return option if option is not None else Path(_settings().migrations_dir)


def _history(directory: Path) -> MigrationHistory:
    try:
        return load_history(directory)
    except MigrationFileError as exc:
        raise click.ClickException(str(exc)) from None


def _executor(
    url: str, history: MigrationHistory, *, lock_timeout: float | None = None, **options: Any
) -> MigrationExecutor:
    settings = _settings()
    return MigrationExecutor(
        url,
        history,
        lock_timeout=lock_timeout or settings.migrations_lock_timeout,
        large_table_rows=settings.migrations_large_table_rows,
        echo=click.echo,
        **options,
    )


def _models_state(models_option: str | None) -> ProjectState:
    from stellate.orm.migrations.models_state import load_models, state_from_models

    modules = (
        [m.strip() for m in models_option.split(",") if m.strip()]
        if models_option
        else _settings().models
    )
    if not modules:
        raise click.ClickException(
            "No models to migrate: set STELLATE_MODELS to the modules holding your models "
            "(e.g. `STELLATE_MODELS=bookstore.models`) or pass --models"
        )
    try:
        return state_from_models(load_models(modules))
    except (ImportError, ImproperlyConfigured, StateError, AutodetectorError) as exc:
        raise click.ClickException(str(exc)) from None


# -- makemigrations -------------------------------------------------------------------


def makemigrations(
    check: bool, name: str | None, empty: bool, models: str | None, migrations_dir: Path | None
) -> None:
    """Write a migration for the changes between the models and the migrations."""
    directory = _directory(migrations_dir)
    history = _history(directory)
    try:
        chain = history.chain()
        current = history.state_at(chain)
    except MigrationFileError as exc:
        raise click.ClickException(str(exc)) from None
    head = chain[-1].name if chain else None
    try:
        snapshot = read_snapshot(directory)
    except MigrationFileError as exc:
        if check or not chain:
            raise click.ClickException(str(exc)) from None
        snapshot = None  # a conflicted snapshot is rewritten below from the files
    stale = chain and (
        snapshot is None or snapshot.head != head or snapshot.state != current.normalized()
    )
    target = ProjectState() if empty else _models_state(models)
    try:
        operations = [] if empty else detect_changes(current, target)
    except AutodetectorError as exc:
        raise click.ClickException(str(exc)) from None

    if check:
        problems = []
        if stale:
            problems.append(
                f"`{directory / SNAPSHOT_FILE}` does not match the migrations (head `{head}`): "
                "run `stellate makemigrations` and commit the result"
            )
        if operations:
            problems.append(
                "The models have changes without a migration:\n"
                + "\n".join(f"  - {op.describe()}" for op in operations)
                + "\nRun `stellate makemigrations` and commit the new file."
            )
        if problems:
            click.echo("\n".join(problems), err=True)
            sys.exit(1)
        click.echo("No changes detected.")
        return

    if not operations and not empty:
        if stale:
            (directory / SNAPSHOT_FILE).write_bytes(snapshot_bytes(head, current))
            click.echo(
                f"No changes detected; rewrote `{directory / SNAPSHOT_FILE}` (head `{head}`)."
            )
        else:
            click.echo("No changes detected.")
        return

    for risk in _risks(current, operations):
        click.echo(str(risk), err=True)
    number = (max(m.number for m in history.migrations.values()) + 1) if history.migrations else 1
    suffix = name or ("manual" if empty else suggest_name(operations))
    migration_name = f"{number:04d}_{_slug(suffix)}"
    new_state = current.clone()
    for operation in operations:
        operation.state_forwards(new_state)
    description = (
        "Hand-written migration: fill in `operations`."
        if empty
        else "; ".join(op.describe().replace("`", "") for op in operations[:3])
        + ("; ..." if len(operations) > 3 else "")
    )
    source = migration_source(
        description=description,
        dependencies=[head] if head else [],
        operations=operations,
    )
    path = write_migration(directory, migration_name, source, head_state=new_state)
    click.echo(f"Wrote {path}:")
    for operation in operations:
        click.echo(f"  - {operation.describe()}")


def _risks(state: ProjectState, operations: list[Any]) -> list[Risk]:
    """Risks of new operations, sized from the configured database when one is set."""
    planned = planned_operations(state, operations)
    rows: dict[str, int | None] = {}
    url = configured_url()
    settings = _settings()
    if url:
        tables = [op.table_name for op, _ in planned if op.table_name is not None]

        async def estimate() -> dict[str, int | None]:
            conn = await asyncpg.connect(url)
            try:
                return await row_estimates(
                    conn, tables, large_table_rows=settings.migrations_large_table_rows
                )
            finally:
                await conn.close()

        try:
            rows = asyncio.run(estimate())
        except (OSError, asyncpg.PostgresError) as exc:
            click.echo(f"(row estimates unavailable: {exc})", err=True)
    return assess(planned, rows, large_table_rows=settings.migrations_large_table_rows)


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    while "__" in cleaned:
        cleaned = cleaned.replace("__", "_")
    return cleaned or "auto"


# -- migrate --------------------------------------------------------------------------


def migrate(
    target: str | None,
    fake: bool,
    dry_run: bool,
    concurrently_indexes: bool,
    lock_timeout: float | None,
    lock_wait: float,
    migrations_dir: Path | None,
    database_url: str | None,
) -> None:
    """Apply migrations up to TARGET (a name, a prefix like 0003, or `zero`), or all."""
    history = _history(_directory(migrations_dir))

    async def run() -> None:
        async with _database(database_url) as url:
            executor = _executor(url, history, lock_timeout=lock_timeout, lock_wait=lock_wait)
            result = await executor.migrate(
                target, fake=fake, dry_run=dry_run, concurrently_indexes=concurrently_indexes
            )
            if not dry_run:
                await _post_migrate(url, executor)
        if dry_run:
            for line in result.problems:
                click.echo(f"-- WARNING {line}")
            for risk in result.risks:
                click.echo(f"-- {risk}")
            click.echo("\n".join(result.sql) if result.sql else "-- Nothing to migrate.")
            return
        if not result.applied and not result.reversed:
            click.echo("Nothing to migrate.")
        else:
            click.echo(
                f"Done: {len(result.applied)} applied, {len(result.reversed)} reversed"
                + (" (faked)." if fake else ".")
            )

    _run(run())


async def _post_migrate(url: str, executor: MigrationExecutor) -> None:
    """Run the ``post_migrate`` hook of each plugin of the app the CLI loaded, in order.

    Under the migration lock, like the migrations: the hooks of two ``migrate`` processes
    started together (their DDL and rows) run one after the other, never interleaved.
    """
    context = click.get_current_context(silent=True)
    app = getattr(context.find_root().obj, "app", None) if context is not None else None
    plugins = getattr(app, "plugins", ())
    if not plugins:
        return
    async with executor.lock():
        for plugin in plugins:
            await plugin.post_migrate(app, url)


def _database(explicit: str | None) -> Any:
    return database_url(explicit or _app_database_url())


def _app_database_url() -> str | None:
    """The URL of ``app.db`` when the ``stellate`` CLI loaded an app with the orm plugin.

    This covers a URL given in code (``App(settings={"orm": {"database_url": ...}})``)
    rather than in the environment.
    """
    context = click.get_current_context(silent=True)
    app = getattr(context.find_root().obj, "app", None) if context is not None else None
    db = vars(app).get("db") if app is not None else None
    url = getattr(db, "url", None)
    return url if isinstance(url, str) and url else None


# -- showmigrations / sqlmigrate ------------------------------------------------------


def showmigrations(migrations_dir: Path | None, database_url: str | None) -> None:
    """List the migrations, marking the applied ones ([X]) and changed files."""
    history = _history(_directory(migrations_dir))

    async def run() -> None:
        async with _database(database_url) as url:
            executor = _executor(url, history)
            async with executor.connection() as conn:
                applied = await executor.applied(conn)
        changed = {
            name
            for name, checksum in applied.items()
            if name in history.migrations and history.migrations[name].checksum != checksum
        }
        chain = history.chain(applied)
        if not chain:
            click.echo(f"No migrations in `{history.directory}`.")
        for migration in chain:
            mark = "X" if executor.is_applied(migration, applied) else " "
            notes = []
            if migration.replaces:
                notes.append(f"squashes {len(migration.replaces)} migrations")
            if migration.name in changed:
                notes.append("CHANGED SINCE APPLIED")
            extra = f"  ({'; '.join(notes)})" if notes else ""
            click.echo(f"[{mark}] {migration.name}{extra}")
        for problem in executor.problems(applied):
            click.echo(f"WARNING {problem}", err=True)

    _run(run())


def sqlmigrate(name: str, backwards: bool, migrations_dir: Path | None) -> None:
    """Print the SQL of migration NAME (no database needed)."""
    from stellate.orm.migrations.executor import Step

    history = _history(_directory(migrations_dir))
    try:
        chain = history.chain()
        if not any(m.name == name or m.name.startswith(name) for m in chain):
            # A migration replaced by a squash: show it along the original path.
            squash = next((m for m in chain if name in m.replaces), None)
            if squash is not None:
                chain = history.chain([squash.replaces[0]])
        position = history.find(name, chain)
        state = history.state_at(chain[:position])
        executor = MigrationExecutor("", history)
        statements = executor.step_sql(Step(chain[position], not backwards, state))
    except (MigrationFileError, MigrationError, IrreversibleError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"-- {'Reverse' if backwards else 'Apply'} {chain[position].name}")
    for sql in statements:
        click.echo(sql if sql.startswith("--") else sql.rstrip(";") + ";")


# -- squashmigrations -----------------------------------------------------------------


def squashmigrations(start_or_end: str, end: str | None, migrations_dir: Path | None) -> None:
    """Squash migrations START..END (or the first..START_OR_END) into one file."""
    directory = _directory(migrations_dir)
    history = _history(directory)
    start = start_or_end if end is not None else None
    last = end if end is not None else start_or_end
    try:
        name, dependencies, replaces, operations = squash_plan(history, last, start)
    except MigrationFileError as exc:
        raise click.ClickException(str(exc)) from None
    if name in history.migrations:
        raise click.ClickException(f"`{directory / name}.py` already exists")
    source = migration_source(
        description=f"Squash of {', '.join(replaces)}.",
        dependencies=dependencies,
        operations=operations,
        replaces=replaces,
    )
    path = directory / f"{name}.py"
    path.write_text(source)
    # The head may now be the squash: rewrite the snapshot from the new history.
    new_history = _history(directory)
    try:
        chain = new_history.chain()
        state = new_history.state_at(chain)
    except MigrationFileError as exc:
        path.unlink()
        raise click.ClickException(f"The squash does not load, nothing written: {exc}") from None
    (directory / SNAPSHOT_FILE).write_bytes(snapshot_bytes(chain[-1].name, state))
    click.echo(
        f"Wrote {path} replacing {len(replaces)} migrations with {len(operations)} operations. "
        "Databases that applied all or none of them use it; once every environment is past "
        "them, delete the replaced files (keep the `replaces` line)."
    )


# -- db verify ------------------------------------------------------------------------


def verify(migrations_dir: Path | None, database_url: str | None) -> None:
    """Exit 1 when the live schema differs from what the applied migrations produce."""
    history = _history(_directory(migrations_dir))

    async def run() -> int:
        async with _database(database_url) as url:
            executor = _executor(url, history)
            async with executor.connection() as conn:
                applied = await executor.applied(conn)
                chain = history.chain(applied)
                done = [m for m in chain if executor.is_applied(m, applied)]
                problems = executor.problems(applied)
                problems.extend(await schema_drift(conn, history.state_at(done)))
        pending = len(chain) - len(done)
        for problem in problems:
            click.echo(f"DRIFT {problem}", err=True)
        if pending:
            click.echo(f"{pending} migration(s) not applied yet (not drift).")
        if problems:
            click.echo(f"{len(problems)} difference(s) between the database and the migrations.")
            return 1
        click.echo(f"The database matches its {len(done)} applied migration(s).")
        return 0

    code = _run(run())
    if code:
        sys.exit(code)
