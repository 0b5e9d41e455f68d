"""Materialized-view models on PostgreSQL: created with their unique index, read-only, refreshed."""

from __future__ import annotations

import pytest

from stellate.orm import Database, Field, Model, OrmError, ReadOnlyModelError
from stellate.orm.migrations.autodetector import detect_changes
from stellate.orm.migrations.models_state import state_from_models
from stellate.orm.migrations.state import ProjectState
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


class MvAuthor(Model):
    class Meta:
        table = "mv_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class MvBook(Model):
    class Meta:
        table = "mv_books"

    id: int = Field(primary_key=True, auto=True)
    author_id: int = Field(foreign_key=MvAuthor)
    pages: int = Field(default=0)


class MvAuthorStats(Model):
    class Meta:
        table = "mv_author_stats"
        materialized_view = (
            "SELECT a.id, a.name, count(b.id)::int AS books, "
            "coalesce(sum(b.pages), 0)::int AS pages "
            "FROM mv_authors a LEFT JOIN mv_books b ON b.author_id = a.id GROUP BY a.id, a.name"
        )

    id: int = Field(primary_key=True)
    name: str = Field(index=True)
    books: int = Field()
    pages: int = Field()


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(MvAuthor, MvBook, MvAuthorStats)
    return db


async def test_view_is_created_with_a_unique_index_and_read(tables: Database) -> None:
    sql = create_table_sql(MvAuthorStats)
    assert sql[0].startswith('CREATE MATERIALIZED VIEW "mv_author_stats" AS SELECT')
    assert sql[1] == ('CREATE UNIQUE INDEX "mv_author_stats_id_uniq" ON "mv_author_stats" ("id")')
    assert await MvAuthorStats.objects.count() == 0
    author = await MvAuthor.objects.create(name="Le Guin")
    await MvBook.objects.create(author_id=author.pk, pages=200)
    await MvBook.objects.create(author_id=author.pk, pages=300)
    assert await MvAuthorStats.objects.count() == 0  # not refreshed yet
    await MvAuthorStats.refresh()
    stats = await MvAuthorStats.objects.get(pk=author.pk)
    assert (stats.name, stats.books, stats.pages) == ("Le Guin", 2, 500)
    await MvBook.objects.create(author_id=author.pk, pages=1)
    await MvAuthorStats.refresh(concurrently=True)
    assert (await MvAuthorStats.objects.get(name="Le Guin")).pages == 501


async def test_writes_are_refused(tables: Database) -> None:
    author = await MvAuthor.objects.create(name="A")
    await MvAuthorStats.refresh()
    stats = await MvAuthorStats.objects.get(pk=author.pk)
    stats.books = 99
    with pytest.raises(ReadOnlyModelError, match=r"`MvAuthorStats` is a materialized view"):
        await stats.save()
    with pytest.raises(ReadOnlyModelError, match=r"`delete\(\)` cannot write"):
        await stats.delete()
    with pytest.raises(ReadOnlyModelError, match="update"):
        await MvAuthorStats.objects.update(books=1)
    with pytest.raises(ReadOnlyModelError, match="delete"):
        await MvAuthorStats.objects.delete()
    with pytest.raises(ReadOnlyModelError, match="bulk_create"):
        await MvAuthorStats.objects.bulk_create([MvAuthorStats(id=5, name="x", books=0, pages=0)])
    with pytest.raises(ReadOnlyModelError, match="save"):
        await MvAuthorStats.objects.create(id=6, name="y", books=0, pages=0)
    assert (await MvAuthorStats.objects.get(pk=author.pk)).books == 0


async def test_concurrent_refresh_without_a_unique_index_explains(tables: Database) -> None:
    await tables.execute('DROP INDEX "mv_author_stats_id_uniq"')
    with pytest.raises(OrmError, match="needs a populated view with a unique index") as info:
        async with tables.transaction():
            await MvAuthorStats.refresh(concurrently=True)
    assert "stellate migrate" in str(info.value)
    await MvAuthorStats.refresh()  # a plain refresh needs no index


async def test_refresh_of_a_table_model_is_a_type_error(tables: Database) -> None:
    with pytest.raises(TypeError, match="not a materialized view"):
        await MvAuthor.refresh()


def test_materialized_view_must_be_sql() -> None:
    with pytest.raises(TypeError, match="materialized_view` must be the SELECT"):

        class MvBad(Model):
            class Meta:
                table = "mv_bad"
                materialized_view = "  "

            id: int = Field(primary_key=True)


async def test_migrations_create_the_view_after_its_tables_and_rebuild_it(db: Database) -> None:
    models = [MvAuthorStats, MvAuthor, MvBook]
    new = state_from_models(models)
    view = new.tables["mv_author_stats"]
    assert view.materialized_view is not None
    assert [i.name for i in view.indexes] == ["mv_author_stats_id_uniq", "mv_author_stats_name_idx"]
    operations = detect_changes(ProjectState(), new)
    assert [op.describe() for op in operations] == [
        "Create table `mv_authors`",
        "Create table `mv_books`",
        "Create materialized view `mv_author_stats`",
    ]
    state = ProjectState()
    for operation in operations:
        for statement in operation.forward_sql(state):
            await db.execute(statement)
        operation.state_forwards(state)
    author = await MvAuthor.objects.create(name="Jemisin")
    await MvBook.objects.create(author_id=author.pk, pages=400)
    await MvAuthorStats.refresh(concurrently=True)  # the migrated unique index serves it
    assert (await MvAuthorStats.objects.get(pk=author.pk)).books == 1
    # Nothing to do when the models did not change.
    assert detect_changes(state, state_from_models(models)) == []
    # Another SELECT: the view is dropped and created again.
    changed = state_from_models(models)
    changed.tables[
        "mv_author_stats"
    ].materialized_view = "SELECT a.id, a.name, 0 AS books, 0 AS pages FROM mv_authors a"
    rebuild = detect_changes(state, changed)
    assert [op.describe() for op in rebuild] == [
        "Drop table `mv_author_stats`",
        "Create materialized view `mv_author_stats`",
    ]
    for operation in rebuild:
        for statement in operation.forward_sql(state):
            await db.execute(statement)
        operation.state_forwards(state)
    assert (await MvAuthorStats.objects.get(pk=author.pk)).books == 0
    # Removing the models drops the view before the tables its SELECT reads.
    drop = detect_changes(state, ProjectState())
    assert next(op.describe() for op in drop) == "Drop table `mv_author_stats`"
    statements = [s for op in drop for s in op.forward_sql(state)]
    assert statements[0] == 'DROP MATERIALIZED VIEW "mv_author_stats"'
    for operation in drop:
        for statement in operation.forward_sql(state):
            await db.execute(statement)
        operation.state_forwards(state)
    assert state.tables == {}
