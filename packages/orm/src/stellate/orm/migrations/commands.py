"""The ``stellate`` CLI commands of the migration system (click commands).

The orm plugin registers :data:`MIGRATION_COMMANDS` with ``app.add_command``. Each
command reads its configuration from the environment (see
:mod:`stellate.orm.migrations.config`) and from its options, so it also runs
without an app: ``python -m stellate.orm.migrations migrate``.

Only the commands' declarations live here; their work is imported from
``_cli`` when one runs, so registering them costs an app's startup nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "MIGRATION_COMMANDS",
    "db_group",
    "makemigrations",
    "migrate",
    "showmigrations",
    "sqlmigrate",
    "squashmigrations",
]

F = TypeVar("F", bound=Callable[..., Any])


def _directory_option(function: F) -> F:
    return click.option(
        "--migrations-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The migrations folder (default: STELLATE_MIGRATIONS_DIR or `migrations`).",
    )(function)


def _url_option(function: F) -> F:
    return click.option(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: STELLATE_DATABASE_URL, DATABASE_URL, else embedded).",
    )(function)


@click.command("makemigrations")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a migration is missing.")
@click.option("--name", default=None, help="Suffix of the new file (`0003_<name>.py`).")
@click.option("--empty", is_flag=True, help="Write an empty migration to fill in by hand.")
@click.option("--models", default=None, help="Comma-separated model modules (STELLATE_MODELS).")
@_directory_option
def makemigrations(
    check: bool, name: str | None, empty: bool, models: str | None, migrations_dir: Path | None
) -> None:
    """Write a migration for the changes between the models and the migrations.

    \b
    Examples:
      stellate --app app:app makemigrations --models models
      stellate --app app:app makemigrations --name add_isbn
      stellate --app app:app makemigrations --check     # in CI: exit 1 if one is missing
      STELLATE_MODELS=shop.models python -m stellate.orm.migrations makemigrations
    """
    from stellate.orm.migrations import _cli

    _cli.makemigrations(check, name, empty, models, migrations_dir)


@click.command("migrate")
@click.argument("target", required=False)
@click.option("--fake", is_flag=True, help="Record the migrations without running their SQL.")
@click.option("--dry-run", is_flag=True, help="Print the SQL that would run; change nothing.")
@click.option(
    "--concurrently-indexes",
    is_flag=True,
    help="Build indexes on existing tables with CREATE INDEX CONCURRENTLY.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds a DDL statement may wait for a table lock (STELLATE_MIGRATIONS_LOCK_TIMEOUT).",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds to wait for another `migrate` holding the migration lock.",
)
@_directory_option
@_url_option
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
    """Apply migrations up to TARGET (a name, a prefix like 0003, or `zero`), or all.

    \b
    Examples:
      stellate --app app:app migrate
      stellate --app app:app migrate --dry-run          # print the SQL and warnings
      stellate --app app:app migrate 0003               # forward or back to 0003
      stellate --app app:app migrate zero               # reverse everything
    """
    from stellate.orm.migrations import _cli

    _cli.migrate(
        target,
        fake,
        dry_run,
        concurrently_indexes,
        lock_timeout,
        lock_wait,
        migrations_dir,
        database_url,
    )


@click.command("showmigrations")
@_directory_option
@_url_option
def showmigrations(migrations_dir: Path | None, database_url: str | None) -> None:
    """List the migrations, marking the applied ones ([X]) and changed files.

    \b
    Example:
      stellate --app app:app showmigrations
    """
    from stellate.orm.migrations import _cli

    _cli.showmigrations(migrations_dir, database_url)


@click.command("sqlmigrate")
@click.argument("name")
@click.option("--backwards", is_flag=True, help="Show the SQL that reverses it.")
@_directory_option
def sqlmigrate(name: str, backwards: bool, migrations_dir: Path | None) -> None:
    """Print the SQL of migration NAME (no database needed).

    \b
    Examples:
      stellate --app app:app sqlmigrate 0002
      stellate --app app:app sqlmigrate 0002_add_isbn --backwards
    """
    from stellate.orm.migrations import _cli

    _cli.sqlmigrate(name, backwards, migrations_dir)


@click.command("squashmigrations")
@click.argument("start_or_end")
@click.argument("end", required=False)
@_directory_option
def squashmigrations(start_or_end: str, end: str | None, migrations_dir: Path | None) -> None:
    """Squash migrations START..END (or the first..START_OR_END) into one file.

    \b
    Examples:
      stellate --app app:app squashmigrations 0040        # 0001..0040
      stellate --app app:app squashmigrations 0010 0040
    """
    from stellate.orm.migrations import _cli

    _cli.squashmigrations(start_or_end, end, migrations_dir)


@click.group("db")
def db_group() -> None:
    """Database maintenance commands.

    \b
    Example:
      stellate --app app:app db verify
    """


@db_group.command("verify")
@_directory_option
@_url_option
def verify(migrations_dir: Path | None, database_url: str | None) -> None:
    """Exit 1 when the live schema differs from what the applied migrations produce.

    \b
    Examples:
      stellate --app app:app db verify
      stellate --app app:app db verify --database-url postgresql://app@db/app
    """
    from stellate.orm.migrations import _cli

    _cli.verify(migrations_dir, database_url)


MIGRATION_COMMANDS: list[click.Command] = [
    makemigrations,
    migrate,
    showmigrations,
    sqlmigrate,
    squashmigrations,
    db_group,
]
