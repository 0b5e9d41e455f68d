"""Scratch databases for migration tests.

Migrations run real DDL in transactions of their own, so they cannot live inside the
rolled-back test transaction of the ``db`` fixture: each test module gets its own
database (``stellate_mig_<random>``), created through the ``postgres`` database and
dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
async def scratch_url() -> AsyncIterator[str]:
    """A fresh database for this test module, dropped afterwards."""
    base = os.environ.get("STELLATE_TEST_DATABASE_URL", DEFAULT_URL)
    name = f"stellate_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_with_database(base, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(base, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def conn(scratch_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the scratch database, whose public schema starts empty."""
    connection = await asyncpg.connect(scratch_url)
    await reset_schema(connection)
    yield connection
    await connection.close()


async def reset_schema(connection: asyncpg.Connection) -> None:
    """Empty the scratch database: public schema, migrations table, extensions."""
    await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    for (name,) in await connection.fetch(
        "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'"
    ):
        await connection.execute(f'DROP EXTENSION IF EXISTS "{name}" CASCADE')


@pytest.fixture
def write_migration(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``migrations/<name>.py`` with the given body under a fresh folder."""
    folder = tmp_path / "migrations"
    folder.mkdir()

    def write(name: str, body: str) -> Path:
        path = folder / f"{name}.py"
        header = (
            "from __future__ import annotations\n\n"
            "from stellate.orm.migrations import operations as ops\n"
            "from stellate.orm.migrations.operations import MigrationContext\n"
            "from stellate.orm.migrations.state import (\n"
            "    ColumnState, ConstraintState, ForeignKeyState, IndexState, TableState,\n"
            ")\n\n"
        )
        path.write_text(header + body)
        return path

    return write
