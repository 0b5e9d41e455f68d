"""Autodetector, writer, squash optimizer and risk rules without a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import stellate.orm.migrations as migrations
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.autodetector import AutodetectorError, detect_changes, suggest_name
from stellate.orm.migrations.loader import load_history
from stellate.orm.migrations.risk import assess, planned_operations
from stellate.orm.migrations.squash import optimize
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    ForeignKeyState,
    IndexState,
    ProjectState,
    TableState,
)
from stellate.orm.migrations.writer import migration_source

ID = ColumnState(name="id", type="BIGINT", primary_key=True, identity=True)


def state(*tables: TableState, extensions: list[str] | None = None) -> ProjectState:
    return ProjectState(tables={t.name: t for t in tables}, extensions=extensions or [])


def books(*extra: ColumnState, **options: object) -> TableState:
    return TableState(
        name="books",
        columns=[ID, ColumnState(name="title", type="TEXT"), *extra],
        **options,  # type: ignore[arg-type]
    )


def test_public_names_are_exported_sorted() -> None:
    assert migrations.__all__ == sorted(migrations.__all__)
    for name in migrations.__all__:
        assert getattr(migrations, name) is not None
    public = {n for n in vars(ops) if not n.startswith("_") and n[0].isupper()}
    public -= {"TYPE_CHECKING", "Any", "Awaitable", "Callable", "PythonStep"}
    public -= {"ColumnState", "ConstraintState", "IndexState", "ProjectState", "StateError"}
    public -= {"TableState"}
    assert public <= set(migrations.__all__)


def test_no_changes_means_no_operations() -> None:
    assert detect_changes(state(books()), state(books())) == []
    # Spelling of a type is not a change.
    spelled = books(ColumnState(name="price", type="numeric(10,2)"))
    assert (
        detect_changes(
            state(spelled), state(books(ColumnState(name="price", type="NUMERIC(10, 2)")))
        )
        == []
    )


def test_diff_covers_every_kind_of_change() -> None:
    old = state(
        books(
            ColumnState(name="price", type="NUMERIC"),
            ColumnState(name="legacy", type="TEXT", null=True),
            indexes=[IndexState(name="old_idx", columns=["title"])],
            constraints=[ConstraintState(name="c1", kind="check", check="price > 0")],
        ),
        TableState(name="gone", columns=[ID]),
    )
    new = state(
        books(
            ColumnState(name="price", type="NUMERIC", null=True, default="0"),
            ColumnState(name="isbn", type="TEXT", null=True),
            indexes=[IndexState(name="new_idx", columns=["isbn"])],
            constraints=[ConstraintState(name="c1", kind="check", check="price >= 0")],
            unlogged=True,
        ),
        TableState(name="tags", columns=[ID]),
        extensions=["pg_trgm"],
    )
    found = [op.describe() for op in detect_changes(old, new)]
    assert found == [
        "Create extension `pg_trgm`",
        "Create table `tags`",
        "Drop constraint `c1` from `books`",
        "Drop index `old_idx` from `books`",
        "Alter column `price` of `books`",
        "Add column `isbn` to `books`",
        "Drop column `legacy` from `books`",
        "Create index `new_idx` on `books`",
        "Add constraint `c1` to `books`",
        "Make table `books` UNLOGGED",
        "Drop table `gone`",
    ]
    # Replaying the operations on the old state gives exactly the new state.
    replayed = old.clone()
    for operation in detect_changes(old, new):
        operation.state_forwards(replayed)
    assert replayed.normalized() == new.normalized()


def test_tables_are_created_after_the_tables_they_reference() -> None:
    child = TableState(
        name="a_child",
        columns=[
            ID,
            ColumnState(name="z_id", type="BIGINT", foreign_key=ForeignKeyState(table="z_parent")),
        ],
    )
    parent = TableState(name="z_parent", columns=[ID])
    created = [op.describe() for op in detect_changes(state(), state(child, parent))]
    assert created == ["Create table `z_parent`", "Create table `a_child`"]
    dropped = [op.describe() for op in detect_changes(state(child, parent), state())]
    assert dropped == ["Drop table `a_child`", "Drop table `z_parent`"]


def test_renames_come_only_from_hints() -> None:
    old = state(books())
    hinted = state(
        TableState(
            name="volumes",
            renamed_from="books",
            columns=[ID, ColumnState(name="name", type="TEXT", renamed_from="title")],
        )
    )
    assert [op.describe() for op in detect_changes(old, hinted)] == [
        "Rename table `books` to `volumes`",
        "Rename column `volumes.title` to `name`",
    ]
    guessed = state(TableState(name="volumes", columns=[ID, ColumnState(name="name", type="TEXT")]))
    assert [op.describe() for op in detect_changes(old, guessed)] == [
        "Create table `volumes`",
        "Drop table `books`",
    ]
    # A hint already applied (the old name is gone, the new one exists) is a no-op.
    assert detect_changes(hinted, hinted) == []


def test_impossible_hints_and_primary_key_changes_are_errors() -> None:
    with pytest.raises(AutodetectorError, match=r"`volumes` says `renamed_from='bokes'`"):
        detect_changes(
            state(books()), state(TableState(name="volumes", renamed_from="bokes", columns=[ID]))
        )
    new_pk = books()
    new_pk.columns = [ColumnState(name="id", type="BIGINT"), new_pk.columns[1]]
    with pytest.raises(AutodetectorError, match=r"`books.id` changes `primary_key`.*RunSQL"):
        detect_changes(state(books()), state(new_pk))


def test_suggested_names() -> None:
    assert suggest_name([ops.CreateTable(table=books())]) == "create_books"
    add = ops.AddColumn(table="books", column=ColumnState(name="isbn", type="TEXT"))
    assert suggest_name([add]) == "add_books_isbn"
    assert suggest_name([add, ops.DropTable(table="x")]) == "auto"


async def seed(ctx: ops.MigrationContext) -> None:
    await ctx.execute("SELECT 1")


def test_written_file_loads_back_to_the_same_operations(tmp_path: Path) -> None:
    operations: list[ops.Operation] = [
        ops.CreateExtension(name="pg_trgm"),
        ops.CreateTable(
            table=books(
                ColumnState(name="note", type="TEXT", default="'it''s \"quoted\"'"),
                indexes=[IndexState(name="t_idx", columns=["-title"], condition="title <> ''")],
            )
        ),
        ops.AlterColumn(
            table="books", column=ColumnState(name="title", type="INTEGER"), using="length(title)"
        ),
        ops.RunSQL(sql=["SELECT 1", "SELECT 2"], reverse=[]),
        ops.RunPython(code=seed, reverse_code=ops.RunPython.noop),
    ]
    source = migration_source(description="All kinds", dependencies=[], operations=operations)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_all.py").write_text(source)
    loaded = load_history(folder).migrations["0001_all"].operations
    assert loaded[:4] == operations[:4]
    python_step = loaded[4]
    assert isinstance(python_step, ops.RunPython)
    assert python_step.code.__name__ == "seed"
    assert python_step.reverse_code is ops.RunPython.noop
    assert "async def seed(ctx: ops.MigrationContext) -> None:" in source
    # The file is formatted as ruff would format it (so reviewers see no churn).
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--diff", "--line-length", "100", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_writer_refuses_what_it_cannot_write() -> None:
    def local(ctx: ops.MigrationContext) -> None:  # a closure cannot be copied
        pass

    with pytest.raises(TypeError, match="must be a module-level `async def`"):
        migration_source(description="x", dependencies=[], operations=[ops.RunPython(code=local)])  # type: ignore[arg-type]


def test_optimizer_folds_into_create_table_and_respects_barriers() -> None:
    created = ops.CreateTable(table=books())
    add = ops.AddColumn(table="books", column=ColumnState(name="isbn", type="TEXT", null=True))
    index = ops.AddIndex(table="books", index=IndexState(name="i", columns=["isbn"]))
    drop = ops.DropColumn(table="books", name="isbn")
    folded = optimize([created, add, index])
    assert len(folded) == 1
    assert isinstance(folded[0], ops.CreateTable)
    assert [c.name for c in folded[0].table.columns] == ["id", "title", "isbn"]
    assert folded[0].table.indexes == [IndexState(name="i", columns=["isbn"])]
    assert optimize([created, add, drop]) == [created]
    assert optimize([created, ops.DropTable(table="books")]) == []
    barrier = ops.RunSQL(sql="UPDATE books SET title = 'x'", reverse=[])
    assert optimize([created, barrier, add]) == [created, barrier, add]
    # A reference to a table created later cannot move into the earlier CREATE TABLE.
    later = ops.CreateTable(table=TableState(name="shelves", columns=[ID]))
    ref = ops.AddColumn(
        table="books",
        column=ColumnState(
            name="shelf_id", type="BIGINT", null=True, foreign_key=ForeignKeyState(table="shelves")
        ),
    )
    assert optimize([created, later, ref]) == [created, later, ref]


def test_risk_rules_without_sizes() -> None:
    base = state(books(ColumnState(name="price", type="NUMERIC", null=True)))
    planned = planned_operations(
        base,
        [
            ops.AddColumn(table="books", column=ColumnState(name="pages", type="INTEGER")),
            ops.AddColumn(table="books", column=ColumnState(name="ok", type="INTEGER", null=True)),
            ops.AlterColumn(table="books", column=ColumnState(name="price", type="NUMERIC")),
            ops.DropTable(table="books"),
        ],
    )
    risks = [str(r) for r in assess(planned, {}, migration="0002_x")]
    assert risks == [
        "WARNING 0002_x: Add column `pages` to `books`: adds NOT NULL column `pages` without a "
        "default to `books` (unknown size): it fails if the table has rows. Add it nullable (or "
        "with `db_default`), backfill, then make it NOT NULL in a later migration",
        "WARNING 0002_x: Alter column `price` of `books`: SET NOT NULL scans `books` (unknown "
        "size) under an ACCESS EXCLUSIVE lock: add a `CHECK (col IS NOT NULL) NOT VALID` "
        "constraint and VALIDATE it first",
        "WARNING 0002_x: Drop table `books`: drops table `books` (unknown size) and all its data",
    ]
    # Empty tables and tables created in the same migration are safe to change.
    assert assess(planned[:1], {"books": 0}) == []
    fresh = planned_operations(
        ProjectState(),
        [ops.CreateTable(table=books()), ops.DropColumn(table="books", name="title")],
    )
    assert assess(fresh, {}) == []


def test_readme_migration_examples_run(tmp_path: Path) -> None:
    readme = Path(__file__).parents[3] / "packages" / "orm" / "README.md"
    text = readme.read_text()
    section = text[text.index("## Migrations") :]
    blocks = [b.split("```", 1)[0] for b in section.split("```python\n")[1:]]
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_initial.py").write_text(
        "from stellate.orm.migrations import operations as ops\n"
        "from stellate.orm.migrations.state import ColumnState, TableState\n"
        "dependencies = []\n"
        "operations = [ops.CreateTable(table=TableState(name='books', columns=["
        "ColumnState(name='id', type='BIGINT', primary_key=True)]))]\n"
    )
    (folder / "0002_add_books_isbn.py").write_text(blocks[0])
    data_migration = (
        "from __future__ import annotations\n"
        "from stellate.orm.migrations import operations as ops\n"
        "from stellate.orm.migrations.operations import MigrationContext\n"
        'dependencies = ["0002_add_books_isbn"]\n' + blocks[1]
    )
    (folder / "0003_fill_slugs.py").write_text(data_migration)
    history = load_history(folder)
    chain = history.chain()
    assert [m.name for m in chain] == ["0001_initial", "0002_add_books_isbn", "0003_fill_slugs"]
    assert history.state_at(chain).table("books").has_column("isbn")
    assert isinstance(chain[2].operations[0], ops.RunPython)


def test_registering_the_commands_loads_no_migration_machinery() -> None:
    assert set(migrations._MODULES) == set(migrations.__all__)
    code = (
        "import sys\n"
        "from stellate.orm.migrations.commands import MIGRATION_COMMANDS\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('stellate.orm.migrations.'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['stellate.orm.migrations.commands']"
