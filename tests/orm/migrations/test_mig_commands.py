"""The migration CLI commands end to end: models -> files -> PostgreSQL -> verify."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import click
import pytest
from click.testing import CliRunner, Result

from stellate.orm.migrations.commands import MIGRATION_COMMANDS
from stellate.orm.migrations.loader import load_history

from .conftest import reset_schema

COMMANDS = {command.name: command for command in MIGRATION_COMMANDS}

MODELS_V1 = """
from __future__ import annotations

from stellate.orm import CheckConstraint, Field, Index, Model
from stellate.orm.fields import CASCADE


class MigAuthor(Model):
    class Meta:
        table = "authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    email: str | None = Field(default=None, unique=True)


class MigBook(Model):
    class Meta:
        table = "books"
        indexes = [Index("title", "-id", name="books_title_recent")]
        constraints = [CheckConstraint(check="price >= 0", name="books_price_positive")]

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    author_id: int = Field(foreign_key=MigAuthor, on_delete=CASCADE)
    price: float = Field(default=0.0, db_default="0")
"""

# v2: title renamed (declared), price dropped, isbn added, authors renamed to writers.
MODELS_V2 = """
from __future__ import annotations

from stellate.orm import Field, Model
from stellate.orm.fields import CASCADE


class MigAuthor(Model):
    class Meta:
        table = "writers"
        renamed_from = "authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    email: str | None = Field(default=None, unique=True)


class MigBook(Model):
    class Meta:
        table = "books"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(renamed_from="title", index=True)
    author_id: int = Field(foreign_key=MigAuthor, on_delete=CASCADE)
    isbn: str | None = Field(default=None)
"""


class Project:
    """A temporary project: a models module, a migrations folder, a database."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.migrations = root / "migrations"
        self.models = ""

    def write_models(self, source: str) -> None:
        # A fresh module name each time: model classes are rebuilt from new source.
        self.models = f"mig_models_{secrets.token_hex(4)}"
        (self.root / f"{self.models}.py").write_text(textwrap.dedent(source))

    def run(self, name: str, *args: str, env: dict[str, str] | None = None) -> Result:
        environment = {
            "STELLATE_MODELS": self.models,
            "STELLATE_MIGRATIONS_DIR": str(self.migrations),
            "STELLATE_DATABASE_URL": self.url,
            **(env or {}),
        }
        return CliRunner().invoke(COMMANDS[name], list(args), env=environment)

    def sql(self, statement: str) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url)
            try:
                return list(await conn.fetch(statement))
            finally:
                await conn.close()

        return asyncio.run(run())


@pytest.fixture
def project(tmp_path: Path, scratch_url: str) -> Iterator[Project]:
    sys.path.insert(0, str(tmp_path))
    project = Project(tmp_path, scratch_url)
    project.sql("SELECT 1")  # connectable

    async def reset() -> None:
        conn = await asyncpg.connect(scratch_url)
        try:
            await reset_schema(conn)
        finally:
            await conn.close()

    asyncio.run(reset())
    yield project
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("mig_models_")]:
        del sys.modules[name]


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_makemigrations_migrate_verify_and_change(project: Project) -> None:
    project.write_models(MODELS_V1)
    assert project.run("makemigrations", "--check").exit_code == 1
    output = ok(project.run("makemigrations"))
    assert "0001_create_authors_books.py" in output
    first = project.migrations / "0001_create_authors_books.py"
    source = first.read_text()
    assert "ops.CreateTable(" in source
    assert 'name="books_title_recent"' in source
    compile(source, str(first), "exec")
    snapshot = json.loads((project.migrations / "_state.json").read_text())
    assert snapshot["head"] == "0001_create_authors_books"
    assert sorted(snapshot["state"]["tables"]) == ["authors", "books"]

    assert ok(project.run("makemigrations", "--check")) == "No changes detected.\n"
    assert ok(project.run("makemigrations")) == "No changes detected.\n"

    output = ok(project.run("migrate"))
    assert "Applying 0001_create_authors_books..." in output
    assert "Done: 1 applied, 0 reversed." in output
    assert ok(project.run("db", "verify")).endswith("matches its 1 applied migration(s).\n")
    project.sql("INSERT INTO authors (name) VALUES ('Ann')")
    project.sql("INSERT INTO books (title, author_id, price) VALUES ('Dune', 1, 9.5)")

    project.write_models(MODELS_V2)
    check = project.run("makemigrations", "--check")
    assert check.exit_code == 1
    assert "Rename table `authors` to `writers`" in check.output
    assert "Rename column `books.title` to `name`" in check.output
    assert "Run `stellate makemigrations`" in check.output

    result = project.run("makemigrations", "--name", "Writers & ISBN")
    output = ok(result)
    assert "0002_writers_isbn.py" in output
    # Declared renames are renames, never drop + add; the dropped price is warned about.
    assert "Drop column `title`" not in output
    assert "Drop column `price` from `books`: deletes the data of column `price`" in output
    second = load_history(project.migrations).migrations["0002_writers_isbn"]
    kinds = [type(op).__name__ for op in second.operations]
    assert kinds == [
        "RenameTable",
        "RenameColumn",
        "DropConstraint",
        "DropIndex",
        "AddColumn",
        "DropColumn",
        "AddIndex",
    ]
    ok(project.run("migrate"))
    assert ok(project.run("db", "verify")).endswith("matches its 2 applied migration(s).\n")
    rows = project.sql(
        "SELECT b.name, w.name AS author FROM books b JOIN writers w ON w.id = b.author_id"
    )
    assert [(r["name"], r["author"]) for r in rows] == [("Dune", "Ann")]
    assert ok(project.run("makemigrations", "--check")) == "No changes detected.\n"


def test_undeclared_rename_is_a_drop_and_an_add(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    project.write_models(
        MODELS_V1.replace("    title: str = Field()", "    headline: str = Field()").replace(
            '"title", "-id"', '"headline", "-id"'
        )
    )
    output = project.run("makemigrations", "--check").output
    assert "Add column `headline` to `books`" in output
    assert "Drop column `title` from `books`" in output
    assert "Rename" not in output


def test_bad_rename_hint_and_missing_models_are_clear_errors(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    project.write_models(
        MODELS_V1.replace(
            "title: str = Field()", 'headline: str = Field(renamed_from="titel")'
        ).replace('"title", "-id"', '"headline", "-id"')
    )
    result = project.run("makemigrations")
    assert result.exit_code == 1
    assert "Column `books.headline` says `renamed_from='titel'`" in result.output
    assert "no column `books.titel`" in result.output

    result = project.run("makemigrations", env={"STELLATE_MODELS": ""})
    assert result.exit_code == 1
    assert "set STELLATE_MODELS to the modules holding your models" in result.output
    result = project.run("makemigrations", "--models", "no_such_models_module")
    assert result.exit_code == 1
    assert "Cannot import models module `no_such_models_module`" in result.output


def test_check_fails_on_a_stale_snapshot(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    snapshot = project.migrations / "_state.json"
    data = json.loads(snapshot.read_text())
    data["head"] = "0000_other_branch"
    snapshot.write_text(json.dumps(data))
    result = project.run("makemigrations", "--check")
    assert result.exit_code == 1
    assert (
        "_state.json` does not match the migrations (head `0001_create_authors_books`)"
        in result.output
    )
    # A normal run repairs it.
    assert "rewrote" in ok(project.run("makemigrations"))
    assert project.run("makemigrations", "--check").exit_code == 0

    snapshot.write_text("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> branch\n")
    result = project.run("makemigrations", "--check")
    assert result.exit_code == 1
    assert "two branches added migrations" in result.output
    assert "rewrote" in ok(project.run("makemigrations"))
    assert json.loads(snapshot.read_text())["head"] == "0001_create_authors_books"


def test_sqlmigrate_showmigrations_dry_run_and_fake(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    project.write_models(MODELS_V2)
    ok(project.run("makemigrations", "--name", "v2"))

    output = ok(project.run("sqlmigrate", "0002"))
    assert output.startswith("-- Apply 0002_v2\n")
    assert 'ALTER TABLE "authors" RENAME TO "writers";' in output
    assert 'ALTER TABLE "books" RENAME COLUMN "title" TO "name";' in output
    backwards = ok(project.run("sqlmigrate", "0002_v2", "--backwards"))
    assert 'ALTER TABLE "writers" RENAME TO "authors";' in backwards
    assert project.run("sqlmigrate", "0009").exit_code == 1

    assert ok(project.run("showmigrations")) == "[ ] 0001_create_authors_books\n[ ] 0002_v2\n"
    dry = ok(project.run("migrate", "--dry-run"))
    assert 'CREATE TABLE "authors"' in dry
    assert "-- Apply 0002_v2" in dry
    assert project.sql("SELECT to_regclass('authors') AS t")[0]["t"] is None

    ok(project.run("migrate", "0001"))
    assert ok(project.run("showmigrations")) == "[X] 0001_create_authors_books\n[ ] 0002_v2\n"
    ok(project.run("migrate", "--fake"))
    assert ok(project.run("showmigrations")) == "[X] 0001_create_authors_books\n[X] 0002_v2\n"
    # Faked: the schema is still v1, and verify says exactly how.
    verify = project.run("db", "verify")
    assert verify.exit_code == 1
    assert "Table `writers` is missing from the database" in verify.output

    first = project.migrations / "0001_create_authors_books.py"
    first.write_text(first.read_text() + "\n# edited after being applied\n")
    shown = project.run("showmigrations")
    assert "[X] 0001_create_authors_books  (CHANGED SINCE APPLIED)" in shown.output
    assert "changed since it was applied" in shown.output
    verify = project.run("db", "verify")
    assert verify.exit_code == 1
    assert "DRIFT Migration `0001_create_authors_books` changed since it was applied" in (
        verify.output
    )


def test_db_verify_reports_drift(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    ok(project.run("migrate"))
    project.sql("ALTER TABLE books ADD COLUMN sneaky INTEGER")
    project.sql("ALTER TABLE authors ALTER COLUMN name DROP NOT NULL")
    project.sql("DROP INDEX books_title_recent")
    project.sql("CREATE TABLE scratch (id int)")
    result = project.run("db", "verify")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("DRIFT")]
    assert lines == [
        "DRIFT Column `authors.name`: not null is `False` in the database, `True` in the "
        "migrations",
        "DRIFT Column `books.sneaky` exists in the database but in no migration",
        "DRIFT Table `scratch` exists in the database but in no migration",
        "DRIFT Index `books_title_recent` on `books` is missing: "
        "`CREATE INDEX books_title_recent ON books USING btree (title, id DESC)`",
    ]
    assert "4 difference(s)" in result.output


def test_migrate_failure_exits_non_zero_with_the_sql_error(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    ok(project.run("makemigrations", "--empty", "--name", "backfill"))
    path = project.migrations / "0002_backfill.py"
    path.write_text(
        path.read_text().replace(
            "operations = []", 'operations = [ops.RunSQL(sql="UPDATE books SET nope = 1")]'
        )
    )
    result = project.run("migrate")
    assert result.exit_code == 1
    assert "Migration `0002_backfill` failed at operation 1" in result.output
    assert 'column "nope" of relation "books" does not exist' in result.output
    assert ok(project.run("showmigrations")) == "[X] 0001_create_authors_books\n[ ] 0002_backfill\n"


def test_squashmigrations_command(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    project.write_models(MODELS_V2)
    ok(project.run("makemigrations", "--name", "v2"))
    output = ok(project.run("squashmigrations", "0002"))
    assert "replacing 2 migrations" in output
    squash = project.migrations / "0001_squashed_0002_v2.py"
    assert 'replaces = ["0001_create_authors_books", "0002_v2"]' in squash.read_text()
    assert json.loads((project.migrations / "_state.json").read_text())["head"] == squash.stem
    assert ok(project.run("makemigrations", "--check")) == "No changes detected.\n"
    ok(project.run("migrate"))
    assert ok(project.run("showmigrations")) == (
        "[X] 0001_squashed_0002_v2  (squashes 2 migrations)\n"
    )
    assert project.run("db", "verify").exit_code == 0
    assert project.run("squashmigrations", "0002", "0001").exit_code == 1


def test_risky_operations_warn_with_row_estimates(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    ok(project.run("migrate"))
    project.sql("INSERT INTO authors (name) VALUES ('Ann')")
    project.sql(
        "INSERT INTO books (title, author_id) SELECT 'b' || g, 1 FROM generate_series(1, 3000) g"
    )
    project.sql("ANALYZE books")
    risky = MODELS_V1.replace(
        '    price: float = Field(default=0.0, db_default="0")',
        '    price: int = Field(default=0, db_default="0")\n    pages: int = Field(index=True)',
    )
    project.write_models(risky)
    env = {"STELLATE_MIGRATIONS_LARGE_TABLE_ROWS": "1000"}
    output = ok(project.run("makemigrations", "--name", "risky", env=env))
    assert (
        "WARNING Add column `pages` to `books`: adds NOT NULL column `pages` without a default "
        "to `books` (~3,000 rows): it fails if the table has rows"
    ) in output
    assert (
        "changes type `DOUBLE PRECISION` -> `INTEGER`: may rewrite `books` (~3,000 rows)" in output
    )
    assert "CREATE INDEX blocks writes to `books` (~3,000 rows)" in output
    assert "--concurrently-indexes" in output

    dry = ok(project.run("migrate", "--dry-run", env=env))
    assert "-- WARNING 0002_risky: Add column `pages` to `books`" in dry
    failed = project.run("migrate", env=env)
    assert failed.exit_code == 1
    assert 'column "pages" of relation "books" contains null values' in failed.output


def test_two_migrate_processes_at_once(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    ok(project.run("makemigrations", "--empty", "--name", "slow"))
    slow = project.migrations / "0002_slow.py"
    slow.write_text(
        slow.read_text().replace(
            "operations = []",
            'operations = [ops.RunSQL(sql="SELECT pg_sleep(1.5)", reverse=[])]',
        )
    )
    command = [
        sys.executable,
        "-m",
        "stellate.orm.migrations",
        "migrate",
        "--migrations-dir",
        str(project.migrations),
        "--database-url",
        project.url,
    ]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    waited = [o for o in outputs if "holds the migration lock: waiting" in o]
    assert len(waited) == 1, outputs
    assert "Nothing to migrate." in waited[0]
    ran = next(o for o in outputs if o is not waited[0])
    assert "Done: 2 applied, 0 reversed." in ran
    rows = project.sql("SELECT name FROM stellate_migrations ORDER BY name")
    assert [r["name"] for r in rows] == ["0001_create_authors_books", "0002_slow"]


def test_database_resolution_errors(project: Project) -> None:
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    no_url = {"STELLATE_DATABASE_URL": None, "DATABASE_URL": None}
    result = project.run("migrate", env={**no_url, "STELLATE_ENV": "production"})  # type: ignore[dict-item]
    assert result.exit_code == 1
    assert "No database to migrate: set STELLATE_DATABASE_URL" in result.output
    result = project.run("migrate", env={**no_url, "STELLATE_EMBEDDED_DATABASE": "false"})  # type: ignore[dict-item]
    assert result.exit_code == 1
    result = project.run("migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/none")
    assert result.exit_code == 1
    assert (
        "Cannot connect to the database at `postgresql://postgres@127.0.0.1:1/none`"
        in result.output
    )
    result = project.run("migrate", "--lock-timeout", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--lock-timeout'" in result.output
    result = project.run("migrate", env={"STELLATE_MIGRATIONS_LOCK_TIMEOUT": "soon"})
    assert result.exit_code == 1
    assert "STELLATE_MIGRATIONS_LOCK_TIMEOUT=`soon` is not valid" in result.output


def test_embedded_database_when_nothing_is_configured(project: Project, tmp_path: Path) -> None:
    # Development with nothing configured: the embedded PostgreSQL is started and migrated.
    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    no_url = {"STELLATE_DATABASE_URL": None, "DATABASE_URL": None}
    embedded = {**no_url, "STELLATE_EMBEDDED_DIR": str(tmp_path / "pg")}
    output = ok(project.run("migrate", env=embedded))  # type: ignore[arg-type]
    assert "Applying 0001_create_authors_books..." in output
    assert ok(project.run("showmigrations", env=embedded)) == "[X] 0001_create_authors_books\n"  # type: ignore[arg-type]
    # ... and the machine's database was not touched.
    assert project.sql("SELECT to_regclass('stellate_migrations') AS t")[0]["t"] is None


def test_commands_use_the_database_of_the_loaded_app(project: Project) -> None:
    from stellate.core import App

    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    # What the `stellate` CLI does: the root context holds the app it loaded.
    app = App(plugins=["orm"], settings={"orm": {"database_url": project.url}})
    root = click.Group("stellate", commands=MIGRATION_COMMANDS)
    env = {"STELLATE_DATABASE_URL": None, "DATABASE_URL": None, "STELLATE_ENV": "production"}
    args = ["migrate", "--migrations-dir", str(project.migrations)]
    result = CliRunner().invoke(root, args, obj=SimpleNamespace(app=app), env=env)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert "Done: 1 applied" in result.output
    rows = project.sql("SELECT name FROM stellate_migrations")
    assert [r["name"] for r in rows] == ["0001_create_authors_books"]


def test_lock_wait_option(project: Project) -> None:
    from stellate.orm.migrations.executor import LOCK_KEY

    project.write_models(MODELS_V1)
    ok(project.run("makemigrations"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys, asyncpg\n"
            "async def main():\n"
            f"    conn = await asyncpg.connect({project.url!r})\n"
            f"    await conn.execute('SELECT pg_advisory_lock({LOCK_KEY})')\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.readline()\n"
            "asyncio.run(main())\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        result = project.run("migrate", "--lock-wait", "0.3")
        assert result.exit_code == 1
        assert "Another `stellate migrate` holds the migration lock: waiting..." in result.output
        assert "Waited 0.3s for the migration lock" in result.output
        assert "application_name = 'stellate migrate'" in result.output
    finally:
        holder.communicate("\n", timeout=30)
    assert "Done: 1 applied" in ok(project.run("migrate", "--lock-wait", "0.3"))


def test_stellate_cli_runs_the_commands_of_an_app_with_the_orm_plugin(project: Project) -> None:
    from stellate.core.cli import cli

    project.write_models(MODELS_V1)
    app_module = f"mig_app_{secrets.token_hex(4)}"
    (project.root / f"{app_module}.py").write_text(
        "from stellate.core import App\n"
        f'app = App(plugins=["orm"], settings={{"orm": {{"database_url": {project.url!r}}}}})\n'
    )
    env = {
        "STELLATE_MODELS": project.models,
        "STELLATE_MIGRATIONS_DIR": str(project.migrations),
        "STELLATE_DATABASE_URL": None,
        "DATABASE_URL": None,
    }
    runner = CliRunner()
    listing = runner.invoke(cli, ["--app", f"{app_module}:app", "--help"], env=env)
    for name in ("makemigrations", "migrate", "showmigrations", "sqlmigrate", "squashmigrations"):
        assert name in listing.output
    made = runner.invoke(cli, ["--app", f"{app_module}:app", "makemigrations"], env=env)
    assert made.exit_code == 0, made.output
    applied = runner.invoke(cli, ["--app", f"{app_module}:app", "migrate"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "Done: 1 applied" in applied.output
    verified = runner.invoke(cli, ["--app", f"{app_module}:app", "db", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    check = runner.invoke(cli, ["--app", f"{app_module}:app", "makemigrations", "--check"], env=env)
    assert check.exit_code == 0, check.output
    sys.modules.pop(app_module, None)
