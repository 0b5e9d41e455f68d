"""Every operation forward and in reverse on real PostgreSQL.

Each case builds a base schema, runs the operation's forward SQL and checks with
``schema_drift`` (which reads the live catalog) that the database now matches the
state the operation computes; then runs the reverse SQL and checks the database is
back to the base state. A wrong ``state_forwards``, forward or reverse shows up as
drift naming the table, column, index or constraint.
"""

from __future__ import annotations

import asyncpg
import pytest

from stellate.orm.migrations import _sql
from stellate.orm.migrations import operations as ops
from stellate.orm.migrations.state import (
    ColumnState,
    ConstraintState,
    ForeignKeyState,
    IndexState,
    ProjectState,
    StateError,
    TableState,
    ordered_by_references,
)
from stellate.orm.migrations.verify import schema_drift

ID = ColumnState(name="id", type="BIGINT", primary_key=True, identity=True)


def base_state() -> ProjectState:
    authors = TableState(
        name="authors",
        columns=[
            ID,
            ColumnState(name="name", type="TEXT"),
            ColumnState(name="email", type="TEXT", null=True, unique=True),
        ],
    )
    books = TableState(
        name="books",
        columns=[
            ID,
            ColumnState(name="title", type="TEXT"),
            ColumnState(
                name="author_id",
                type="BIGINT",
                foreign_key=ForeignKeyState(table="authors", on_delete="CASCADE"),
            ),
            ColumnState(name="price", type="NUMERIC(10, 2)", default="0"),
        ],
        indexes=[IndexState(name="books_title_idx", columns=["title"])],
        constraints=[
            ConstraintState(name="books_price_positive", kind="check", check="price >= 0")
        ],
    )
    return ProjectState(tables={"authors": authors, "books": books})


async def build(conn: asyncpg.Connection, state: ProjectState, *, rows: bool = True) -> None:
    for extension in state.extensions:
        await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {_sql.quote(extension)}")
    for table in ordered_by_references(list(state.tables.values())):
        for sql in _sql.create_table(table):
            await conn.execute(sql)
    if not rows:
        return
    await conn.execute("INSERT INTO authors (name, email) VALUES ('Ann', 'a@x'), ('Bob', 'b@x')")
    await conn.execute(
        "INSERT INTO books (title, author_id, price) VALUES ('One', 1, 10), ('Two', 2, 20)"
    )


CASES: dict[str, tuple[ops.Operation, ProjectState | None]] = {
    "create_table": (
        ops.CreateTable(
            table=TableState(
                name="reviews",
                columns=[
                    ID,
                    ColumnState(
                        name="book_id",
                        type="BIGINT",
                        foreign_key=ForeignKeyState(table="books", on_delete="CASCADE"),
                    ),
                    ColumnState(name="stars", type="SMALLINT"),
                    ColumnState(name="body", type="TEXT", null=True),
                ],
                indexes=[IndexState(name="reviews_book_idx", columns=["book_id", "stars"])],
                constraints=[
                    ConstraintState(
                        name="reviews_stars_range", kind="check", check="stars BETWEEN 1 AND 5"
                    ),
                    ConstraintState(
                        name="reviews_one_long_body",
                        kind="unique",
                        columns=["book_id"],
                        condition="body IS NOT NULL",
                    ),
                ],
                unlogged=True,
            )
        ),
        None,
    ),
    "drop_table": (ops.DropTable(table="books"), None),
    "set_unlogged": (
        ops.SetUnlogged(table="tags", unlogged=True),
        ProjectState(tables={**base_state().tables, "tags": TableState(name="tags", columns=[ID])}),
    ),
    "rename_table": (ops.RenameTable(table="authors", new_name="writers"), None),
    "add_column_nullable_unique": (
        ops.AddColumn(
            table="books", column=ColumnState(name="isbn", type="TEXT", null=True, unique=True)
        ),
        None,
    ),
    "add_column_default": (
        ops.AddColumn(table="books", column=ColumnState(name="pages", type="INTEGER", default="0")),
        None,
    ),
    "add_column_foreign_key": (
        ops.AddColumn(
            table="books",
            column=ColumnState(
                name="editor_id",
                type="BIGINT",
                null=True,
                foreign_key=ForeignKeyState(table="authors", on_delete="SET NULL"),
            ),
        ),
        None,
    ),
    "drop_column_with_check": (ops.DropColumn(table="books", name="price"), None),
    "drop_column_foreign_key": (ops.DropColumn(table="books", name="author_id"), None),
    "drop_column_indexed": (ops.DropColumn(table="books", name="title"), None),
    "alter_column_type_null_default": (
        ops.AlterColumn(
            table="books",
            column=ColumnState(name="price", type="NUMERIC(12, 3)", null=True, default="1.5"),
        ),
        None,
    ),
    "alter_column_unique": (
        ops.AlterColumn(table="authors", column=ColumnState(name="name", type="TEXT", unique=True)),
        None,
    ),
    "alter_column_drop_unique_and_null": (
        ops.AlterColumn(table="authors", column=ColumnState(name="email", type="TEXT")),
        None,
    ),
    "alter_column_foreign_key": (
        ops.AlterColumn(
            table="books",
            column=ColumnState(
                name="author_id",
                type="BIGINT",
                null=True,
                foreign_key=ForeignKeyState(table="authors", on_delete="SET NULL"),
            ),
        ),
        None,
    ),
    "alter_column_using": (
        ops.AlterColumn(
            table="books",
            column=ColumnState(name="title", type="INTEGER"),
            using="length(title)",
        ),
        None,
    ),
    "rename_column_indexed": (ops.RenameColumn(table="books", name="title", new_name="name"), None),
    "rename_column_checked": (ops.RenameColumn(table="books", name="price", new_name="cost"), None),
    "rename_column_foreign_key": (
        ops.RenameColumn(table="books", name="author_id", new_name="writer_id"),
        None,
    ),
    "rename_column_unique": (
        ops.RenameColumn(table="authors", name="email", new_name="mail"),
        None,
    ),
    "add_index": (
        ops.AddIndex(
            table="books",
            index=IndexState(
                name="books_cheap_idx",
                columns=["author_id"],
                include=["title"],
                condition="price < 15",
            ),
        ),
        None,
    ),
    "add_index_unique_method": (
        ops.AddIndex(
            table="authors",
            index=IndexState(name="authors_name_hash", columns=["name"], method="hash"),
        ),
        None,
    ),
    "drop_index": (ops.DropIndex(table="books", name="books_title_idx"), None),
    "add_check_constraint": (
        ops.AddConstraint(
            table="books",
            constraint=ConstraintState(
                name="books_title_not_empty", kind="check", check="title <> ''"
            ),
        ),
        None,
    ),
    "add_unique_constraint": (
        ops.AddConstraint(
            table="books",
            constraint=ConstraintState(
                name="books_author_title_key", kind="unique", columns=["author_id", "title"]
            ),
        ),
        None,
    ),
    "add_partial_unique_constraint": (
        ops.AddConstraint(
            table="books",
            constraint=ConstraintState(
                name="books_one_free_per_author",
                kind="unique",
                columns=["author_id"],
                condition="price = 0",
            ),
        ),
        None,
    ),
    "drop_constraint": (ops.DropConstraint(table="books", name="books_price_positive"), None),
    "create_extension": (ops.CreateExtension(name="pg_trgm"), None),
    "create_extension_then_index": (
        ops.AddIndex(
            table="books",
            index=IndexState(
                name="books_title_trgm", columns=["title"], method="gin", opclass="gin_trgm_ops"
            ),
        ),
        ProjectState(tables=base_state().tables, extensions=["pg_trgm"]),
    ),
    "drop_extension": (
        ops.DropExtension(name="pg_trgm"),
        ProjectState(tables=base_state().tables, extensions=["pg_trgm"]),
    ),
    "run_sql_with_state": (
        ops.RunSQL(
            sql="CREATE INDEX books_lower_title ON books (title) WHERE price > 5",
            reverse="DROP INDEX books_lower_title",
            state_operations=[
                ops.AddIndex(
                    table="books",
                    index=IndexState(
                        name="books_lower_title", columns=["title"], condition="price > 5"
                    ),
                )
            ],
        ),
        None,
    ),
}


EMPTY = {"drop_column_foreign_key", "drop_column_indexed"}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_forward_then_reverse_matches_state(conn: asyncpg.Connection, case: str) -> None:
    operation, base = CASES[case]
    before = base or base_state()
    # Re-adding a dropped NOT NULL column without default only works on an empty table.
    await build(conn, before, rows=case not in EMPTY)
    assert await schema_drift(conn, before) == []

    after = before.clone()
    operation.state_forwards(after)
    assert after != before
    for sql in operation.forward_sql(before):
        await conn.execute(sql)
    assert await schema_drift(conn, after) == []
    # The state must have moved the same way as the database: the old state is now drift.
    assert await schema_drift(conn, before) != []

    for sql in operation.reverse_sql(before):
        await conn.execute(sql)
    assert await schema_drift(conn, before) == []


async def test_rename_table_moves_references_and_constraint_names(
    conn: asyncpg.Connection,
) -> None:
    before = base_state()
    await build(conn, before)
    operation = ops.RenameTable(table="authors", new_name="writers")
    after = before.clone()
    operation.state_forwards(after)
    assert after.table("books").column("author_id").foreign_key == ForeignKeyState(
        table="writers", on_delete="CASCADE"
    )
    for sql in operation.forward_sql(before):
        await conn.execute(sql)
    names = {
        r["conname"]
        for r in await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'writers'::regclass"
        )
    }
    assert names == {"writers_pkey", "writers_email_key"}
    # Data survived and the cascade still points at the renamed table.
    await conn.execute("DELETE FROM writers WHERE name = 'Ann'")
    assert await conn.fetchval("SELECT count(*) FROM books") == 1


async def test_alter_column_type_converts_existing_rows(conn: asyncpg.Connection) -> None:
    before = base_state()
    await build(conn, before)
    operation = ops.AlterColumn(
        table="books", column=ColumnState(name="title", type="INTEGER"), using="length(title)"
    )
    for sql in operation.forward_sql(before):
        await conn.execute(sql)
    assert sorted(r[0] for r in await conn.fetch("SELECT title FROM books")) == [3, 3]


async def test_drop_column_reverse_recreates_the_column_empty(conn: asyncpg.Connection) -> None:
    before = base_state()
    await build(conn, before)
    operation = ops.DropColumn(table="books", name="price")
    for sql in operation.forward_sql(before):
        await conn.execute(sql)
    for sql in operation.reverse_sql(before):
        await conn.execute(sql)
    # The data is gone (the reverse restores the schema, never the values): the default fills.
    assert [r[0] for r in await conn.fetch("SELECT price FROM books")] == [0, 0]


def test_state_errors_name_the_problem() -> None:
    state = base_state()
    with pytest.raises(StateError, match=r"No table `nope`.*`authors`, `books`"):
        ops.DropTable(table="nope").state_forwards(state)
    with pytest.raises(StateError, match=r"has no column `nope`.*`title`"):
        ops.DropColumn(table="books", name="nope").state_forwards(state)
    with pytest.raises(StateError, match="already has a column `title`"):
        ops.AddColumn(table="books", column=ColumnState(name="title", type="TEXT")).state_forwards(
            state
        )
    with pytest.raises(StateError, match="Table `books` already exists"):
        ops.CreateTable(table=state.table("books")).state_forwards(state)
    with pytest.raises(StateError, match="primary key"):
        ops.AlterColumn(table="books", column=ColumnState(name="id", type="BIGINT")).state_forwards(
            state
        )


def test_irreversible_operations_say_so() -> None:
    state = base_state()
    run_sql = ops.RunSQL(sql="UPDATE books SET price = 1")
    assert not run_sql.reversible
    with pytest.raises(ops.IrreversibleError, match="has no reverse"):
        run_sql.reverse_sql(state)
    assert ops.RunSQL(sql="SELECT 1", reverse=[]).reverse_sql(state) == []


async def test_verify_explains_a_schema_it_cannot_rebuild(conn: asyncpg.Connection) -> None:
    state = ProjectState(
        tables={"docs": TableState(name="docs", columns=[ColumnState(name="v", type="vectorx(3)")])}
    )
    problems = await schema_drift(conn, state)
    assert len(problems) == 1
    assert problems[0].startswith(
        "The schema of the applied migrations cannot be rebuilt for comparison: "
        'UndefinedObjectError: type "vectorx" does not exist'
    )
    assert "missing extension" in problems[0]
