"""``Meta.cache_ttl`` on PostgreSQL: hits, invalidation by every ORM write, limits."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from stellate.orm import Count, Database, Field, ManyToManyField, Model
from stellate.orm.cache import GENERATION_TABLE, invalidate
from stellate.orm.migrations.models_state import state_from_models
from stellate.orm.testing import create_tables


class CacheTag(Model):
    class Meta:
        table = "cache_tags"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class CacheAuthor(Model):
    class Meta:
        table = "cache_authors"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class CacheBook(Model):
    class Meta:
        table = "cache_books"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    price: int = Field(default=0)
    author_id: int | None = Field(foreign_key=CacheAuthor, default=None, related_name="books")
    tags: ClassVar[ManyToManyField] = ManyToManyField(CacheTag)


class CacheShelf(Model):  # not cached: joins to it are not cached either
    class Meta:
        table = "cache_shelves"

    id: int = Field(primary_key=True, auto=True)
    label: str = Field()


class CacheShelfBook(Model):
    class Meta:
        table = "cache_shelf_books"
        cache_ttl = 60

    id: int = Field(primary_key=True, auto=True)
    shelf_id: int = Field(foreign_key=CacheShelf)


class CacheShort(Model):
    class Meta:
        table = "cache_short"
        cache_ttl = 1

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(CacheTag, CacheAuthor, CacheBook, CacheShelf, CacheShelfBook, CacheShort)
    return db


async def _titles(qs: Any) -> list[str]:
    return [b.title for b in await qs.order_by("id")]


async def test_results_are_cached_until_an_orm_write(tables: Database) -> None:
    book = await CacheBook.objects.create(title="A")
    assert await _titles(CacheBook.objects.all()) == ["A"]
    # A write that bypasses the ORM is not seen: the result came from the cache.
    await tables.execute("UPDATE cache_books SET title = 'raw'")
    assert await _titles(CacheBook.objects.all()) == ["A"]
    assert await CacheBook.objects.count() == 1
    # Different parameters are a different entry.
    assert await _titles(CacheBook.objects.filter(title="raw")) == ["raw"]
    # Any ORM write moves the generation: every cached query of the table misses.
    book.price = 5
    await book.save(update_fields=["price"])
    assert await _titles(CacheBook.objects.all()) == ["raw"]
    # invalidate() after a raw write.
    await tables.execute("UPDATE cache_books SET title = 'raw2'")
    assert await _titles(CacheBook.objects.all()) == ["raw"]
    await invalidate(CacheBook)
    assert await _titles(CacheBook.objects.all()) == ["raw2"]


async def _check_invalidates(db: Database, write: Any) -> None:
    await CacheBook.objects.all()  # cache the current rows
    before = [b.to_dict() for b in await CacheBook.objects.order_by("id")]
    await write()
    after = [b.to_dict() for b in await CacheBook.objects.order_by("id")]
    fresh = [dict(r) for r in await db.fetch("SELECT * FROM cache_books ORDER BY id")]
    assert after == fresh
    assert after != before


async def test_every_kind_of_write_invalidates(tables: Database) -> None:
    db = tables
    first = await CacheBook.objects.create(title="first")
    await CacheBook.objects.order_by("id")

    async def insert() -> None:
        await CacheBook.objects.create(title="second")

    async def update() -> None:
        first.title = "renamed"
        await first.save()

    async def qs_update() -> None:
        await CacheBook.objects.filter(title="second").update(price=9)

    async def bulk_create() -> None:
        await CacheBook.objects.bulk_create([CacheBook(title="b1"), CacheBook(title="b2")])

    async def bulk_copy() -> None:
        await CacheBook.objects.bulk_create([CacheBook(title="c1")], use_copy=True)

    async def bulk_update() -> None:
        rows = await CacheBook.objects.filter(title__in=["b1", "b2"])
        for row in rows:
            row.price = 77
        await CacheBook.objects.bulk_update(rows, ["price"])

    async def delete() -> None:
        await first.delete()

    async def qs_delete() -> None:
        await CacheBook.objects.filter(title="b1").delete()

    async def get_or_create() -> None:
        await CacheBook.objects.get_or_create(title="goc")

    for write in (
        insert,
        update,
        qs_update,
        bulk_create,
        bulk_copy,
        bulk_update,
        delete,
        qs_delete,
        get_or_create,
    ):
        await _check_invalidates(db, write)


async def test_many_to_many_changes_move_the_junction_generation(tables: Database) -> None:
    # (Filtering across a many-to-many is not compiled yet; a cached query that reads
    # the junction table would key on this generation.)
    book = await CacheBook.objects.create(title="Dune")
    scifi = await CacheTag.objects.create(name="scifi")
    junction = CacheBook.tags.table  # type: ignore[attr-defined]
    sql = f"SELECT generation FROM {GENERATION_TABLE} WHERE table_name = $1"
    seen = {await tables.fetchval(sql, junction)}
    changes = (
        lambda: CacheBook.tags.add(book, scifi),  # type: ignore[attr-defined]
        lambda: CacheBook.tags.remove(book, scifi),  # type: ignore[attr-defined]
        lambda: CacheBook.tags.set(book, [scifi]),  # type: ignore[attr-defined]
        lambda: CacheBook.tags.clear(book),  # type: ignore[attr-defined]
    )
    for change in changes:
        await change()
        generation = await tables.fetchval(sql, junction)
        assert generation not in seen
        seen.add(generation)


async def test_writes_to_a_joined_cached_table_invalidate(tables: Database) -> None:
    author = await CacheAuthor.objects.create(name="Le Guin")
    await CacheBook.objects.create(title="Earthsea", author_id=author.pk)
    by_name = CacheBook.objects.filter(author__name="Le Guin")
    counted = CacheAuthor.objects.annotate(n=Count("books"))
    assert await _titles(by_name) == ["Earthsea"]
    assert [a.n for a in await counted] == [1]
    author.name = "Ursula K. Le Guin"
    await author.save()
    assert await _titles(by_name) == []
    await CacheBook.objects.create(title="Lathe", author_id=author.pk)
    assert [a.n for a in await counted] == [2]


async def test_queries_joining_an_uncached_table_are_not_cached(tables: Database) -> None:
    shelf = await CacheShelf.objects.create(label="top")
    await CacheShelfBook.objects.create(shelf_id=shelf.pk)
    joined = CacheShelfBook.objects.filter(shelf__label="top")
    assert await joined.count() == 1
    await tables.execute("UPDATE cache_shelves SET label = 'bottom'")
    assert await joined.count() == 0  # read again: a raw write to it is seen


async def test_the_local_store_is_not_trusted_only_the_database_generation(
    tables: Database,
) -> None:
    # What another worker does: an ORM write elsewhere leaves this process's store
    # untouched; the next read here must still miss because the generation moved.
    await CacheBook.objects.create(title="x")
    await CacheBook.objects.all()
    store = CacheBook._meta.result_cache
    entries = dict(store)
    generation = await tables.fetchval(
        f"SELECT generation FROM {GENERATION_TABLE} WHERE table_name = 'cache_books'"
    )
    await tables.execute(
        # The statement a write in another worker sends (the same CTE form).
        f"INSERT INTO {GENERATION_TABLE} VALUES ('cache_books', 'other-worker') "
        "ON CONFLICT (table_name) DO UPDATE SET generation = EXCLUDED.generation"
    )
    await tables.execute("UPDATE cache_books SET title = 'changed elsewhere'")
    assert all(store.get(k) == v for k, v in entries.items())
    assert await _titles(CacheBook.objects.all()) == ["changed elsewhere"]
    assert generation is not None


async def test_a_rolled_back_write_leaves_no_reusable_entry(tables: Database) -> None:
    await CacheBook.objects.create(title="kept")
    assert await _titles(CacheBook.objects.all()) == ["kept"]
    seen_inside: list[str] = []

    async def write_then_fail() -> None:
        async with tables.transaction():
            await CacheBook.objects.create(title="rolled back")
            seen_inside.extend(await _titles(CacheBook.objects.all()))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert seen_inside == ["kept", "rolled back"]
    assert await _titles(CacheBook.objects.all()) == ["kept"]
    await CacheBook.objects.create(title="next")
    assert await _titles(CacheBook.objects.all()) == ["kept", "next"]


async def test_select_for_update_is_never_cached(tables: Database) -> None:
    await CacheBook.objects.create(title="locked")
    await CacheBook.objects.select_for_update()
    await tables.execute("UPDATE cache_books SET title = 'raw'")
    assert [b.title for b in await CacheBook.objects.select_for_update()] == ["raw"]


async def test_entries_expire_after_the_ttl(tables: Database) -> None:
    await CacheShort.objects.create(name="a")
    assert [r.name for r in await CacheShort.objects.all()] == ["a"]
    await tables.execute("UPDATE cache_short SET name = 'b'")
    assert [r.name for r in await CacheShort.objects.all()] == ["a"]
    await asyncio.sleep(1.05)
    assert [r.name for r in await CacheShort.objects.all()] == ["b"]


def test_cache_ttl_must_be_positive_seconds() -> None:
    with pytest.raises(TypeError, match="cache_ttl` must be a positive number"):

        class CacheBad(Model):
            class Meta:
                table = "cache_bad"
                cache_ttl = 0

            id: int = Field(primary_key=True, auto=True)


def test_migrations_create_the_generation_table() -> None:
    state = state_from_models([CacheBook, CacheAuthor, CacheTag])
    table = state.tables[GENERATION_TABLE]
    assert [c.name for c in table.columns] == ["table_name", "generation"]
    assert GENERATION_TABLE not in state_from_models([CacheShelf]).tables


_OTHER_WORKER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from stellate.orm import connect
from test_orm_cache import CacheBook

async def main():
    async with connect({url!r}):
        assert await CacheBook.objects.filter(title="before").update(price=1) == 1

asyncio.run(main())
"""


async def test_an_orm_write_in_another_process_is_seen_at_once(
    own_db: Database, test_url: str
) -> None:
    import sys
    from pathlib import Path

    from stellate.orm.database import activate, restore

    junction = CacheBook.tags.table  # type: ignore[attr-defined]
    drop = f'DROP TABLE IF EXISTS "{junction}", cache_books, cache_authors, cache_tags CASCADE'
    previous = activate({"default": own_db})
    try:
        await own_db.execute(drop)
        await create_tables(CacheTag, CacheAuthor, CacheBook)  # committed: no test transaction
        await CacheBook.objects.create(title="before")
        assert [b.price for b in await CacheBook.objects.all()] == [0]
        await own_db.execute("UPDATE cache_books SET price = 5")  # raw: not seen
        assert [b.price for b in await CacheBook.objects.all()] == [0]  # served from cache
        script = _OTHER_WORKER.format(tests=str(Path(__file__).parent), url=test_url)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(worker.communicate(), timeout=60)
        assert worker.returncode == 0, stderr.decode()
        # This process's store still holds the old entry, but the generation moved.
        assert [b.price for b in await CacheBook.objects.all()] == [1]
    finally:
        await own_db.execute(drop)
        restore(previous)
