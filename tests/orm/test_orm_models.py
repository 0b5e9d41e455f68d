"""Models: declaration, Meta, field types, validation, DDL, and instance behaviour."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment, Publisher, Status

from stellate.core.responses import encode_json
from stellate.orm import (
    Field,
    FieldError,
    Model,
    NotLoadedError,
    ObjectDoesNotExist,
    ValidationError,
)
from stellate.orm.schema import create_table_sql
from stellate.orm.testing import create_tables


@pytest.fixture
async def tables(db: Any) -> None:
    await create_tables(*ALL_MODELS)


def test_meta_and_fields_are_collected_in_order() -> None:
    meta = Book._meta
    assert meta.table == "core_books"
    assert meta.pk.name == "id"
    assert list(meta.fields)[:4] == ["id", "title", "slug", "author_id"]
    assert meta.fields["rating"].nullable is True
    assert meta.fields["title"].nullable is False
    assert meta.fields["status"].enum_type is Status
    assert meta.relations["author"].name == "author_id"
    assert Author._meta.reverse_relations["books"][0] is Book


def test_python_types_map_to_column_types() -> None:
    class Everything(Model):
        class Meta:
            table = "everything"

        id: int = Field(primary_key=True, auto=True)
        a: int = Field()
        b: float = Field()
        c: str = Field()
        d: bool = Field()
        e: dt.datetime = Field()
        f: dt.date = Field()
        g: Decimal = Field()
        h: uuid.UUID = Field()
        i: bytes = Field()
        j: dict[str, Any] = Field()
        k: list[int] = Field()
        m: Status | None = Field(default=None)
        n: Any = Field(default=None)

    types = {f.name: f.db_type() for f in Everything._meta.field_list}
    assert types == {
        "id": "SERIAL",
        "a": "INTEGER",
        "b": "DOUBLE PRECISION",
        "c": "TEXT",
        "d": "BOOLEAN",
        "e": "TIMESTAMPTZ",
        "f": "DATE",
        "g": "NUMERIC",
        "h": "UUID",
        "i": "BYTEA",
        "j": "JSONB",
        "k": "JSONB",
        "m": "TEXT",
        "n": "JSONB",
    }
    assert Everything._meta.fields["m"].nullable


def test_unsupported_annotation_names_the_field() -> None:
    with pytest.raises(TypeError, match=r"`Strange.blob` annotated"):

        class Strange(Model):
            class Meta:
                table = "strange"

            id: int = Field(primary_key=True, auto=True)
            blob: complex = Field()


def test_table_and_primary_key_are_required() -> None:
    with pytest.raises(TypeError, match=r"has no table: add `class Meta: table"):

        class NoTable(Model):
            id: int = Field(primary_key=True, auto=True)

    with pytest.raises(TypeError, match="has no primary key"):

        class NoPk(Model):
            class Meta:
                table = "nopk"

            name: str = Field()


def test_unknown_meta_option_is_rejected_with_suggestion() -> None:
    with pytest.raises(FieldError, match=r"Unknown Meta option `tabel`.*did you mean `table`"):

        class Typo(Model):
            class Meta:
                tabel = "typo"

            id: int = Field(primary_key=True, auto=True)


def test_abstract_and_multi_level_inheritance() -> None:
    class Timestamped(Model):
        class Meta:
            abstract = True

        created_at: dt.datetime | None = Field(default=None)

    class Slugged(Timestamped):
        class Meta:
            abstract = True

        slug: str = Field(unique=True, index=True)

    class Page(Slugged):
        class Meta:
            table = "pages"

        id: int = Field(primary_key=True, auto=True)
        title: str = Field()

    assert list(Page._meta.fields) == ["created_at", "slug", "id", "title"]
    assert Page._meta.fields["slug"].model is Page
    assert Slugged._meta.fields["slug"].model is Slugged
    assert create_table_sql(Slugged) == []
    with pytest.raises(TypeError, match="abstract"):
        Slugged(slug="x")


def test_proxy_shares_table_and_exceptions() -> None:
    class PublishedBook(Book):
        class Meta:
            proxy = True

    assert PublishedBook._meta.table == "core_books"
    assert list(PublishedBook._meta.fields) == list(Book._meta.fields)
    assert issubclass(PublishedBook.DoesNotExist, Book.DoesNotExist)
    assert create_table_sql(PublishedBook) == []
    assert Author._meta.reverse_relations["books"][0] is Book


def test_per_model_exceptions() -> None:
    assert issubclass(Book.DoesNotExist, ObjectDoesNotExist)
    assert Book.DoesNotExist is not Author.DoesNotExist
    assert Book.DoesNotExist.__qualname__ == "Book.DoesNotExist"


def test_defaults_and_callable_defaults() -> None:
    one = Book(title="A", slug="a", author_id=1)
    two = Book(title="B", slug="b", author_id=1)
    assert one.pages == 0
    assert one.status is Status.DRAFT
    assert one.data == {}
    assert one.data is not two.data
    assert one.id is None
    assert isinstance(one.created_at, dt.datetime)


def test_validation_lists_every_failing_field() -> None:
    with pytest.raises(ValidationError) as info:
        Author(name="", email="nope", age=200)
    errors = info.value.errors
    assert set(errors) == {"name", "email", "age"}
    assert "at least 1" in errors["name"][0]
    assert "does not match the pattern" in errors["email"][0]
    assert "must be <= 150" in errors["age"][0]
    assert "3 invalid fields for `Author`" in str(info.value)


def test_validation_of_types_none_and_enums() -> None:
    with pytest.raises(ValidationError) as info:
        Book(title=None, slug="s", author_id="seven", pages=True, status="deleted")
    errors = info.value.errors
    assert "may not be None" in errors["title"][0]
    assert "expected int, got str" in errors["author_id"][0]
    assert "expected int, got bool" in errors["pages"][0]
    assert (
        "`deleted` is not one of the allowed values: `draft`, `published`, `archived`"
        in (errors["status"][0])
    )


def test_pk_keyword_sets_the_primary_key() -> None:
    assert Publisher(pk=5, name="x").id == 5
    assert Publisher(pk=5, name="x").pk == 5


def test_enum_value_is_coerced_to_member() -> None:
    book = Book(title="A", slug="a", author_id=1, status="published")
    assert book.status is Status.PUBLISHED


def test_unknown_keyword_suggests_the_field() -> None:
    with pytest.raises(FieldError, match=r"Unknown field `titel` on `Book` \(did you mean `title`"):
        Book(titel="x")


def test_full_clean_reports_missing_required_fields() -> None:
    book = Book(slug="s")
    with pytest.raises(ValidationError) as info:
        book.full_clean()
    assert info.value.errors == {"title": ["is required"], "author_id": ["is required"]}


def test_unset_field_raises_not_loaded_instead_of_querying() -> None:
    book = Book(slug="s")
    with pytest.raises(NotLoadedError, match=r"`Book.title` was not loaded"):
        _ = book.title
    with pytest.raises(NotLoadedError, match=r'select_related\("author"\)'):
        _ = book.author


def test_to_dict_and_json_encoding() -> None:
    book = Book(
        title="A",
        slug="a",
        author_id=3,
        status=Status.PUBLISHED,
        created_at=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    )
    data = book.to_dict()
    assert data["title"] == "A"
    assert data["status"] is Status.PUBLISHED
    assert book.__json__() == data
    encoded = encode_json({"book": book})
    assert b'"status":"published"' in encoded
    assert b'"created_at":"2024-01-02T00:00:00Z"' in encoded


def test_forward_string_reference_resolves_and_installs_reverse() -> None:
    assert Comment._meta.fields["book_id"].related_model is Book
    assert Comment._meta.fields["parent_id"].related_model is Comment
    assert Book._meta.reverse_relations["comments"][0] is Comment
    assert Comment._meta.reverse_relations["replies"][0] is Comment


def test_unresolved_forward_reference_fails_with_name_at_first_use() -> None:
    class Orphan(Model):
        class Meta:
            table = "orphans"

        id: int = Field(primary_key=True, auto=True)
        ghost_id: int = Field(foreign_key="GhostModelNeverDefined")

    with pytest.raises(FieldError, match=r"refers to model `GhostModelNeverDefined`"):
        create_table_sql(Orphan)


def test_create_table_sql_for_books() -> None:
    statements = create_table_sql(Book)
    table = statements[0]
    assert table.startswith('CREATE TABLE "core_books" (')
    assert '"id" SERIAL PRIMARY KEY' in table
    assert (
        '"author_id" INTEGER NOT NULL REFERENCES "core_authors" ("id") ON DELETE CASCADE' in table
    )
    assert '"rating" DOUBLE PRECISION,' in table
    assert 'CONSTRAINT "core_books_pages_nonnegative" CHECK ("pages" >= 0)' in table
    assert 'CREATE INDEX "core_books_author_id_idx" ON "core_books" ("author_id")' in statements
    assert (
        'CREATE INDEX "core_books_status_created_at_idx" ON "core_books" USING btree '
        '("status", "created_at" DESC)'
    ) in statements
    assert (
        'CREATE UNIQUE INDEX "core_books_live_slug" ON "core_books" ("slug") '
        "WHERE NOT (\"status\" = 'archived')"
    ) in statements


def test_unlogged_and_db_default() -> None:
    class Hit(Model):
        class Meta:
            table = "hits"
            unlogged = True

        id: int = Field(primary_key=True, auto=True)
        at: dt.datetime = Field(db_default="now()")

    statements = create_table_sql(Hit)
    assert statements[0].startswith('CREATE UNLOGGED TABLE "hits"')
    assert '"at" TIMESTAMPTZ NOT NULL DEFAULT now()' in statements[0]
    assert Hit().__dict__.get("at") is None


async def test_save_insert_update_refresh_delete(tables: None) -> None:
    author = Author(name="Ann", email="ann@example.com")
    await author.save()
    assert isinstance(author.id, int)
    author.name = "Anne"
    await author.save()
    fresh = await Author.objects.get(id=author.id)
    assert fresh.name == "Anne"
    await Author.objects.filter(id=author.id).update(age=40)
    await author.refresh_from_db()
    assert author.age == 40
    await author.delete()
    assert not await Author.objects.filter(id=author.id).exists()
    with pytest.raises(Author.DoesNotExist):
        await author.refresh_from_db()


async def test_save_update_fields_writes_only_those(tables: None) -> None:
    author = await Author.objects.create(name="Ann", email="ann@example.com", age=30)
    await Author.objects.filter(id=author.id).update(age=31)
    author.name = "Changed"
    await author.save(update_fields=["name"])
    fresh = await Author.objects.get(id=author.id)
    assert (fresh.name, fresh.age) == ("Changed", 31)


async def test_save_validates_before_any_sql(tables: None, assert_num_queries: Any) -> None:
    author = await Author.objects.create(name="Ann", email="ann@example.com")
    author.name = ""
    author.age = -1
    async with assert_num_queries(0):
        with pytest.raises(ValidationError) as info:
            await author.save()
    assert set(info.value.errors) == {"name", "age"}


async def test_enum_and_json_round_trip(tables: None) -> None:
    author = await Author.objects.create(name="Ann", email="ann@example.com")
    book = await Book.objects.create(
        title="T", slug="t", author_id=author.id, status=Status.ARCHIVED, data={"a": [1, 2]}
    )
    loaded = await Book.objects.get(id=book.id)
    assert loaded.status is Status.ARCHIVED
    assert loaded.data == {"a": [1, 2]}
    assert await Book.objects.filter(status="archived").count() == 1


async def test_fetch_loads_deferred_field_and_relations(tables: None) -> None:
    author = await Author.objects.create(name="Ann", email="ann@example.com")
    book = await Book.objects.create(title="T", slug="t", author_id=author.id, content="long")
    lazy = await Book.objects.defer("content").get(id=book.id)
    with pytest.raises(NotLoadedError, match=r"await obj.fetch\('content'\)"):
        _ = lazy.content
    assert await lazy.fetch("content") == "long"
    assert lazy.content == "long"
    loaded_author = await lazy.fetch("author")
    assert loaded_author.name == "Ann"
    assert lazy.author is loaded_author
    books = await author.fetch("books")
    assert [b.id for b in books] == [book.id]
    with pytest.raises(FieldError, match="Unknown field or relation `autor`"):
        await lazy.fetch("autor")


async def test_enum_field_with_int_values(tables: None) -> None:
    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 2

    class Alarm(Model):
        class Meta:
            table = "core_alarms"

        id: int = Field(primary_key=True, auto=True)
        level: Level = Field(default=Level.LOW)

    assert Alarm._meta.fields["level"].db_type() == "INTEGER"
    await create_tables(Alarm)
    alarm = await Alarm.objects.create(level=2)
    assert (await Alarm.objects.get(id=alarm.id)).level is Level.HIGH


async def test_publisher_default_country(tables: None) -> None:
    publisher = await Publisher.objects.create(name="P")
    assert publisher.country == "NZ"


async def test_saving_a_partially_loaded_instance_writes_what_it_holds(tables: None) -> None:
    author = await Author.objects.create(name="Ann", email="ann@example.com")
    book = await Book.objects.create(title="T", slug="t", author_id=author.id, content="keep")
    partial = await Book.objects.only("title").get(id=book.id)
    partial.title = "New"
    await partial.save()
    fresh = await Book.objects.get(id=book.id)
    assert (fresh.title, fresh.content) == ("New", "keep")


async def test_protect_is_the_default_on_delete(tables: None) -> None:
    from stellate.orm import ForeignKeyViolation, transaction

    author = await Author.objects.create(name="Ann", email="ann@example.com")
    book = await Book.objects.create(title="T", slug="t", author_id=author.id)
    parent = await Comment.objects.create(book_id=book.id, body="p")
    await Comment.objects.create(book_id=book.id, body="r", parent_id=parent.id)
    assert Comment._meta.fields["parent_id"].on_delete.name == "PROTECT"
    with pytest.raises(ForeignKeyViolation, match="core_comments"):
        async with transaction():
            await parent.delete()
    assert await Comment.objects.filter(id=parent.id).exists()


async def test_meta_database_routes_to_its_alias() -> None:
    from stellate.orm import DatabaseNotConfiguredError

    class Remote(Model):
        class Meta:
            table = "remote_things"
            database = "analytics"

        id: int = Field(primary_key=True, auto=True)

    assert Remote._meta.database == "analytics"
    with pytest.raises(DatabaseNotConfiguredError, match="`analytics`"):
        await Remote.objects.count()


def test_identity_equality_and_hash() -> None:
    one = Publisher.from_row({"id": 1, "name": "P", "country": "NZ"})
    same = Publisher.from_row({"id": 1, "name": "changed", "country": "NZ"})
    other = Publisher.from_row({"id": 2, "name": "P", "country": "NZ"})
    assert one == same
    assert one != other
    assert len({one, same, other}) == 2
    unsaved = Publisher(name="x")
    assert unsaved != Publisher(name="x")
    with pytest.raises(TypeError, match="unhashable"):
        hash(unsaved)
    assert repr(one) == "<Publisher id=1>"


def test_objects_is_read_from_the_class() -> None:
    with pytest.raises(AttributeError, match=r"`Publisher.objects`"):
        _ = Publisher(name="x").objects


def test_field_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"Unknown on_delete `EXPLODE`"):
        Field(on_delete="EXPLODE")
    assert Field(on_delete="set null").on_delete.value == "SET NULL"
    with pytest.raises(TypeError, match="without a type annotation"):

        class Bare(Model):
            class Meta:
                table = "bare"

            id: int = Field(primary_key=True, auto=True)
            name = Field()

    with pytest.raises(TypeError, match="may not be `pk`"):

        class BadName(Model):
            class Meta:
                table = "bad"

            id: int = Field(primary_key=True, auto=True)
            a__b: int = Field()


async def test_partial_index_raw_check_and_long_names(db: Any) -> None:
    from stellate.orm import CheckConstraint, Index, Q

    class Event(Model):
        class Meta:
            table = "events_with_a_rather_long_table_name_for_testing_limits"
            indexes = (
                Index("kind", name="events_open_kind", condition=Q(closed_at__isnull=True)),
                Index("payload", method="gin"),
                Index("kind", "opened_at_with_a_long_column_name_too", unique=True),
            )
            constraints = (
                CheckConstraint(
                    check="opened_at_with_a_long_column_name_too > 0", name="ck_positive"
                ),
            )

        id: int = Field(primary_key=True, auto=True)
        kind: str = Field()
        payload: dict[str, Any] = Field(default=dict)
        opened_at_with_a_long_column_name_too: int = Field(default=1)
        closed_at: dt.datetime | None = Field(default=None)

    statements = create_table_sql(Event)
    assert (
        'CONSTRAINT "ck_positive" CHECK (opened_at_with_a_long_column_name_too > 0)'
        in (statements[0])
    )
    assert statements[1] == (
        'CREATE INDEX "events_open_kind" ON "events_with_a_rather_long_table_name_for_testing_'
        'limits" USING btree ("kind") WHERE "closed_at" IS NULL'
    )
    assert 'USING gin ("payload")' in statements[2]
    long_name = statements[3].split('"')[1]
    assert len(long_name) <= 63
    assert statements[3].startswith("CREATE UNIQUE INDEX")
    with pytest.raises(ValueError, match="Unknown index method `fast`"):
        Index("kind", method="fast")
    await create_tables(Event)  # the DDL is valid PostgreSQL
    await Event.objects.create(kind="k")
