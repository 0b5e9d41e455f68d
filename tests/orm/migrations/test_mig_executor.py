"""Applying, reversing, faking, failing, locking and squashing migrations on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from stellate.orm.migrations import MigrationError, MigrationExecutor, MigrationFileError
from stellate.orm.migrations.loader import load_history
from stellate.orm.migrations.squash import squash_plan
from stellate.orm.migrations.verify import schema_drift
from stellate.orm.migrations.writer import migration_source

Write = Callable[[str, str], Path]

INITIAL = """
dependencies = []
operations = [
    ops.CreateTable(
        table=TableState(
            name="authors",
            columns=[
                ColumnState(name="id", type="BIGINT", primary_key=True, identity=True),
                ColumnState(name="name", type="TEXT"),
            ],
        )
    ),
]
"""

BOOKS = """
dependencies = ["0001_initial"]
operations = [
    ops.CreateTable(
        table=TableState(
            name="books",
            columns=[
                ColumnState(name="id", type="BIGINT", primary_key=True, identity=True),
                ColumnState(name="title", type="TEXT"),
                ColumnState(
                    name="author_id",
                    type="BIGINT",
                    foreign_key=ForeignKeyState(table="authors", on_delete="CASCADE"),
                ),
            ],
        )
    ),
    ops.AddIndex(table="books", index=IndexState(name="books_title_idx", columns=["title"])),
]
"""

ISBN = """
dependencies = ["0002_books"]
operations = [
    ops.AddColumn(table="books", column=ColumnState(name="isbn", type="TEXT", null=True)),
]
"""


def executor(
    url: str, folder: Path, messages: list[str] | None = None, **kw: object
) -> MigrationExecutor:
    sink = messages if messages is not None else []
    return MigrationExecutor(url, load_history(folder), echo=sink.append, **kw)  # type: ignore[arg-type]


async def recorded(conn: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT name FROM stellate_migrations ORDER BY name")]


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


async def test_apply_all_then_reverse_to_target_and_zero(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration("0002_books", BOOKS)
    write_migration("0003_isbn", ISBN)
    run = executor(scratch_url, folder)

    result = await run.migrate()
    assert result.applied == ["0001_initial", "0002_books", "0003_isbn"]
    assert await recorded(conn) == ["0001_initial", "0002_books", "0003_isbn"]
    history = load_history(folder)
    assert await schema_drift(conn, history.state_at(history.chain())) == []
    rows = await conn.fetch("SELECT name, checksum FROM stellate_migrations")
    assert {r["name"]: r["checksum"] for r in rows} == {
        name: m.checksum for name, m in history.migrations.items()
    }

    again = await executor(scratch_url, folder).migrate()
    assert again.applied == []
    assert again.reversed == []

    back = await executor(scratch_url, folder).migrate("0001")
    assert back.reversed == ["0003_isbn", "0002_books"]
    assert await recorded(conn) == ["0001_initial"]
    assert await tables(conn) == {"authors", "stellate_migrations"}

    await executor(scratch_url, folder).migrate("zero")
    assert await recorded(conn) == []
    assert await tables(conn) == {"stellate_migrations"}


async def test_failing_migration_leaves_schema_and_table_as_before(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_broken",
        """
dependencies = ["0001_initial"]
operations = [
    ops.AddColumn(table="authors", column=ColumnState(name="bio", type="TEXT", null=True)),
    ops.RunSQL(sql="UPDATE authors SET bio = missing_column", reverse=[]),
]
""",
    )
    with pytest.raises(MigrationError) as info:
        await executor(scratch_url, folder).migrate()
    message = str(info.value)
    assert "Migration `0002_broken` failed at operation 2" in message
    assert "Run SQL `UPDATE authors SET bio = missing_column`" in message
    assert 'column "missing_column" does not exist' in message
    assert "SQL: UPDATE authors SET bio = missing_column" in message
    assert "rolled back" in message

    assert await recorded(conn) == ["0001_initial"]
    history = load_history(folder)
    first = history.chain()[:1]
    assert await schema_drift(conn, history.state_at(first)) == []


async def test_failing_python_step_is_rolled_back(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_data",
        """
async def fill(ctx: MigrationContext) -> None:
    await ctx.execute("INSERT INTO authors (name) VALUES ($1)", "Ann")
    raise ValueError("bad data in row 7")


dependencies = ["0001_initial"]
operations = [ops.RunPython(code=fill)]
""",
    )
    with pytest.raises(MigrationError, match=r"0002_data.*operation 1.*fill.*bad data in row 7"):
        await executor(scratch_url, folder).migrate()
    assert await conn.fetchval("SELECT count(*) FROM authors") == 0
    assert await recorded(conn) == ["0001_initial"]


async def test_run_python_data_migration_and_irreversible_reverse(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_seed",
        """
async def seed(ctx: MigrationContext) -> None:
    assert "authors" in ctx.state.tables
    await ctx.execute("INSERT INTO authors (name) VALUES ('Ann'), ('Bob')")


dependencies = ["0001_initial"]
operations = [ops.RunPython(code=seed)]
""",
    )
    await executor(scratch_url, folder).migrate()
    assert await conn.fetchval("SELECT count(*) FROM authors") == 2
    with pytest.raises(MigrationError, match=r"`0002_seed` cannot be reversed.*Run Python `seed`"):
        await executor(scratch_url, folder).migrate("0001")
    assert await recorded(conn) == ["0001_initial", "0002_seed"]


async def test_checksum_mismatch_is_reported(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    path = write_migration("0001_initial", INITIAL)
    await executor(scratch_url, path.parent).migrate()
    path.write_text(path.read_text().replace('name="name"', 'name="full_name"'))
    messages: list[str] = []
    result = await executor(scratch_url, path.parent, messages).migrate()
    assert len(result.problems) == 1
    assert "Migration `0001_initial` changed since it was applied" in result.problems[0]
    assert "revert the file" in result.problems[0]
    assert any("changed since it was applied" in m for m in messages)

    path.unlink()
    result = await executor(scratch_url, path.parent).migrate()
    assert result.problems == [
        f"Migration `0001_initial` is recorded as applied but has no file in `{path.parent}`: "
        "restore it from version control"
    ]


async def test_fake_records_without_running_sql(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    result = await executor(scratch_url, folder).migrate(fake=True)
    assert result.applied == ["0001_initial"]
    assert await recorded(conn) == ["0001_initial"]
    assert await tables(conn) == {"stellate_migrations"}
    await executor(scratch_url, folder).migrate("zero", fake=True)
    assert await recorded(conn) == []


async def test_dry_run_prints_sql_and_changes_nothing(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration("0002_books", BOOKS)
    result = await executor(scratch_url, folder).migrate(dry_run=True)
    text = "\n".join(result.sql)
    assert text.startswith('-- Apply 0001_initial\nCREATE TABLE "authors" (')
    assert 'CREATE INDEX "books_title_idx" ON "books" ("title");' in text
    assert await tables(conn) == set()


async def test_two_concurrent_migrate_runs_one_waits(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_slow",
        """
dependencies = ["0001_initial"]
operations = [
    ops.RunSQL(sql="SELECT pg_sleep(0.6)", reverse=[]),
    ops.AddColumn(table="authors", column=ColumnState(name="bio", type="TEXT", null=True)),
]
""",
    )
    first_messages: list[str] = []
    second_messages: list[str] = []
    first = executor(scratch_url, folder, first_messages)
    second = executor(scratch_url, folder, second_messages)

    async def later() -> object:
        await asyncio.sleep(0.2)
        return await second.migrate()

    one, two = await asyncio.gather(first.migrate(), later())
    assert one.applied == ["0001_initial", "0002_slow"]  # type: ignore[attr-defined]
    assert two.applied == []  # type: ignore[attr-defined]
    assert any("holds the migration lock: waiting" in m for m in second_messages)
    assert not any("waiting" in m for m in first_messages)
    assert await recorded(conn) == ["0001_initial", "0002_slow"]


async def test_lock_wait_gives_up_with_a_clear_error(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    holder = executor(scratch_url, folder)
    async with holder.lock():
        with pytest.raises(MigrationError, match=r"Waited 0.3s for the migration lock"):
            await executor(scratch_url, folder, lock_wait=0.3).migrate()
    assert await tables(conn) == set()


async def test_lock_timeout_stops_ddl_behind_a_long_transaction(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    await executor(scratch_url, folder).migrate()
    write_migration(
        "0002_isbn", ISBN.replace("0002_books", "0001_initial").replace("books", "authors")
    )
    blocker = await asyncpg.connect(scratch_url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT * FROM authors")  # holds ACCESS SHARE until commit
        with pytest.raises(MigrationError, match=r"0002_isbn.*LockNotAvailableError.*lock timeout"):
            await executor(scratch_url, folder, lock_timeout=0.2).migrate()
        await transaction.rollback()
    finally:
        await blocker.close()
    assert await recorded(conn) == ["0001_initial"]


async def test_concurrently_indexes_on_existing_tables(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    await executor(scratch_url, folder).migrate()
    write_migration(
        "0002_index",
        """
dependencies = ["0001_initial"]
operations = [
    ops.AddColumn(table="authors", column=ColumnState(name="bio", type="TEXT", null=True)),
    ops.AddIndex(table="authors", index=IndexState(name="authors_name_idx", columns=["name"])),
]
""",
    )
    dry = await executor(scratch_url, folder).migrate(dry_run=True, concurrently_indexes=True)
    assert 'CREATE INDEX CONCURRENTLY "authors_name_idx" ON "authors" ("name");' in dry.sql
    result = await executor(scratch_url, folder).migrate(concurrently_indexes=True)
    assert result.applied == ["0002_index"]
    valid = await conn.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'authors_name_idx'::regclass"
    )
    assert valid is True
    history = load_history(folder)
    assert await schema_drift(conn, history.state_at(history.chain())) == []


async def test_branches_are_reported_with_the_fix(write_migration: Write) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration("0002_books", BOOKS)
    write_migration("0002_isbn", ISBN.replace("0002_books", "0001_initial"))
    with pytest.raises(
        MigrationFileError, match=r"`0002_books`, `0002_isbn` all follow `0001_initial`"
    ):
        load_history(folder).chain()


async def test_bad_files_are_named(write_migration: Write) -> None:
    path = write_migration("0001_initial", "dependencies = []\noperations = 'nope'\n")
    with pytest.raises(MigrationFileError, match=r"0001_initial.py` must define `operations`"):
        load_history(path.parent)
    path.write_text("import nothing_here_at_all\n")
    with pytest.raises(MigrationFileError, match=r"failed to import: ModuleNotFoundError"):
        load_history(path.parent)
    path.write_text("from __future__ import annotations\noperations = []\n")
    with pytest.raises(MigrationFileError, match=r"must define `dependencies`"):
        load_history(path.parent)


async def test_squash_replaces_for_new_and_for_migrated_databases(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration("0002_books", BOOKS)
    write_migration("0003_isbn", ISBN)
    write_migration(
        "0004_drop_isbn",
        'dependencies = ["0003_isbn"]\noperations = [ops.DropColumn(table="books", name="isbn")]\n',
    )
    # A database that applied the first migration before the squash existed.
    await executor(scratch_url, folder).migrate("0001")

    history = load_history(folder)
    name, dependencies, replaces, operations = squash_plan(history, "0004")
    assert name == "0001_squashed_0004_drop_isbn"
    assert replaces == ["0001_initial", "0002_books", "0003_isbn", "0004_drop_isbn"]
    # Column add/drop and the index folded into the two CREATE TABLEs.
    assert [op.describe() for op in operations] == [
        "Create table `authors`",
        "Create table `books`",
    ]
    (folder / f"{name}.py").write_text(
        migration_source(
            description="squash",
            dependencies=dependencies,
            operations=operations,
            replaces=replaces,
        )
    )
    squashed = load_history(folder)
    assert (
        squashed.state_at(squashed.chain()).normalized()
        == history.state_at(history.chain()).normalized()
    )

    # Partly migrated: the originals finish the path; the squash then counts as applied.
    result = await executor(scratch_url, folder).migrate()
    assert result.applied == ["0002_books", "0003_isbn", "0004_drop_isbn"]
    again = await executor(scratch_url, folder).migrate()
    assert again.applied == []
    # The squash was recorded too, so deleting the originals keeps it applied.
    assert name in await recorded(conn)
    kept = {p.name: p.read_text() for p in folder.glob("000[1-4]_[!s]*.py")}
    for file_name in kept:
        (folder / file_name).unlink()
    alone = await executor(scratch_url, folder).migrate()
    assert alone.applied == []
    assert alone.problems == []
    for file_name, text in kept.items():
        (folder / file_name).write_text(text)

    # A new database runs the squash alone and records everything it replaces.
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    result = await executor(scratch_url, folder).migrate()
    assert result.applied == [name]
    assert await recorded(conn) == sorted([*replaces, name])
    assert await schema_drift(conn, squashed.state_at(squashed.chain())) == []

    # And reversing it removes every record.
    await executor(scratch_url, folder).migrate("zero")
    assert await recorded(conn) == []


async def test_reverse_that_cannot_restore_a_column_names_it(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_drop_name",
        'dependencies = ["0001_initial"]\n'
        'operations = [ops.DropColumn(table="authors", name="name")]\n',
    )
    await executor(scratch_url, folder).migrate()
    await conn.execute("INSERT INTO authors DEFAULT VALUES")
    with pytest.raises(MigrationError) as info:
        await executor(scratch_url, folder).migrate("0001")
    assert "Migration `0002_drop_name` failed at operation 1 (Drop column `name`" in str(info.value)
    assert 'column "name" of relation "authors" contains null values' in str(info.value)
    assert await recorded(conn) == ["0001_initial", "0002_drop_name"]


async def test_non_atomic_migration_runs_statement_by_statement(
    scratch_url: str, conn: asyncpg.Connection, write_migration: Write
) -> None:
    folder = write_migration("0001_initial", INITIAL).parent
    write_migration(
        "0002_outside",
        """
atomic = False
dependencies = ["0001_initial"]
operations = [
    ops.RunSQL(sql="CREATE INDEX CONCURRENTLY authors_name_idx ON authors (name)",
               reverse="DROP INDEX CONCURRENTLY authors_name_idx",
               state_operations=[ops.AddIndex(table="authors",
                   index=IndexState(name="authors_name_idx", columns=["name"]))]),
]
""",
    )
    result = await executor(scratch_url, folder).migrate()
    assert result.applied == ["0001_initial", "0002_outside"]
    history = load_history(folder)
    assert await schema_drift(conn, history.state_at(history.chain())) == []
    await executor(scratch_url, folder).migrate("0001")
    assert await recorded(conn) == ["0001_initial"]
