"""Relations: select_related (both spellings), prefetch_related, Prefetch, reverse names."""

from __future__ import annotations

from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment, Publisher

from stellate.orm import FieldError, NotLoadedError, Prefetch
from stellate.orm.testing import create_tables


@pytest.fixture
async def library(db: Any) -> dict[str, Any]:
    await create_tables(*ALL_MODELS)
    press = await Publisher.objects.create(name="Press")
    ann = await Author.objects.create(name="Ann", email="ann@x.io", publisher_id=press.id)
    bob = await Author.objects.create(name="Bob", email="bob@x.io")
    b1 = await Book.objects.create(title="A1", slug="a1", author_id=ann.id, pages=10)
    b2 = await Book.objects.create(title="A2", slug="a2", author_id=ann.id, pages=20)
    b3 = await Book.objects.create(title="B1", slug="b1", author_id=bob.id, pages=30)
    c1 = await Comment.objects.create(book_id=b1.id, body="first")
    await Comment.objects.create(book_id=b1.id, body="reply", parent_id=c1.id)
    return {"press": press, "ann": ann, "bob": bob, "books": [b1, b2, b3]}


async def test_select_related_loads_in_one_query(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        books = await Book.objects.select_related("author").order_by("id")
        names = [book.author.name for book in books]
    assert names == ["Ann", "Ann", "Bob"]
    assert books[0].author_id == library["ann"].id
    assert type(books[0].author_id) is int


async def test_select_related_by_fk_field_name_keeps_the_key(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        books = await Book.objects.select_related("author_id").order_by("id").all()
    book = books[0]
    assert book.author_id == library["ann"].id
    assert book.author_id == 1 or book.author_id == library["ann"].id
    assert isinstance(book.author_id, int)
    assert book.author_id.name == "Ann"
    assert book.author_id.email == "ann@x.io"
    assert book.author.name == "Ann"
    assert hash(book.author_id) == hash(library["ann"].id)
    assert book.to_dict()["author_id"] == library["ann"].id
    assert type(book.to_dict()["author_id"]) is int
    # Saving the instance writes the plain key back.
    book.title = "A1 again"
    await book.save()
    assert (await Book.objects.get(id=book.id)).author_id == library["ann"].id


async def test_nested_select_related_and_null_foreign_keys(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        books = await Book.objects.select_related("author__publisher").order_by("id")
    assert books[0].author.publisher.name == "Press"
    assert books[2].author.name == "Bob"
    assert books[2].author.publisher is None
    comments = await Comment.objects.select_related("parent").order_by("id")
    assert comments[0].parent is None
    assert comments[1].parent.body == "first"


async def test_unloaded_relation_raises_naming_the_fix(library: dict[str, Any]) -> None:
    book = await Book.objects.get(id=library["books"][0].id)
    with pytest.raises(NotLoadedError, match=r'select_related\("author"\)'):
        _ = book.author
    author = await Author.objects.get(id=library["ann"].id)
    with pytest.raises(NotLoadedError, match=r'prefetch_related\("books"\)'):
        _ = author.books


async def test_prefetch_reverse_relation_one_extra_query(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(2):
        authors = await Author.objects.prefetch_related("books").order_by("id")
    assert [[b.title for b in a.books] for a in authors] == [["A1", "A2"], ["B1"]]


async def test_prefetch_forward_and_nested(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(3):
        books = await Book.objects.prefetch_related("author__publisher").order_by("id")
    assert books[0].author.publisher.name == "Press"
    assert books[2].author.publisher is None
    async with assert_num_queries(3):
        publishers = await Publisher.objects.prefetch_related("authors__books")
    assert [b.title for b in publishers[0].authors[0].books] == ["A1", "A2"]


async def test_prefetch_object_with_queryset_and_to_attr(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(2):
        authors = await Author.objects.prefetch_related(
            Prefetch(
                "books",
                queryset=Book.objects.filter(pages__gte=20).order_by("-pages"),
                to_attr="long",
            )
        ).order_by("id")
    assert [[b.title for b in a.long] for a in authors] == [["A2"], ["B1"]]
    with pytest.raises(NotLoadedError):
        _ = authors[0].books


async def test_prefetch_self_reference_and_empty(library: dict[str, Any]) -> None:
    comments = await Comment.objects.prefetch_related("replies").order_by("id")
    assert [c.body for c in comments[0].replies] == ["reply"]
    assert comments[1].replies == []
    assert await Author.objects.filter(name="nobody").prefetch_related("books") == []


async def test_reverse_relation_filters_and_bad_names(library: dict[str, Any]) -> None:
    names = await Author.objects.filter(books__pages__gte=30).values_list("name", flat=True)
    assert names == ["Bob"]
    with pytest.raises(FieldError, match=r"Unknown relation `bookz` on `Author`"):
        await Author.objects.prefetch_related("bookz")
    with pytest.raises(FieldError, match="prefetch_related"):
        Author.objects.select_related("books")


async def test_relation_instance_assignment(library: dict[str, Any]) -> None:
    book = Book(title="N", slug="n", author=library["bob"])
    assert book.author_id == library["bob"].id
    await book.save()
    book.author = library["ann"]
    assert book.author_id == library["ann"].id
    await book.save()
    assert (await Book.objects.get(id=book.id)).author_id == library["ann"].id
    assert await Book.objects.filter(author=library["ann"]).count() == 3


async def test_cascade_and_set_null_on_delete(library: dict[str, Any]) -> None:
    await library["press"].delete()
    ann = await Author.objects.get(id=library["ann"].id)
    assert ann.publisher_id is None
    await library["bob"].delete()
    assert await Book.objects.filter(author_id=library["bob"].id).count() == 0


async def test_many_to_many_add_set_clear_and_prefetch(db: Any, assert_num_queries: Any) -> None:
    from typing import ClassVar

    from stellate.orm import Field, ManyToManyField, Model
    from stellate.orm.schema import create_table_sql

    class Label(Model):
        class Meta:
            table = "core_labels"

        id: int = Field(primary_key=True, auto=True)
        name: str = Field()

    class Note(Model):
        class Meta:
            table = "core_notes"

        id: int = Field(primary_key=True, auto=True)
        labels: ClassVar = ManyToManyField(Label)

    statements = create_table_sql(Note)
    assert statements[1].startswith('CREATE TABLE "core_notes_core_labels" (')
    assert (
        '"note_id" INTEGER NOT NULL REFERENCES "core_notes" ("id") ON DELETE CASCADE'
        in (statements[1])
    )
    await create_tables(Label, Note)
    red, green, blue = [await Label.objects.create(name=n) for n in ("red", "green", "blue")]
    one, two = await Note.objects.create(), await Note.objects.create()
    await Note.labels.add(one, red, green, red)
    await Note.labels.add(two, blue.id)
    async with assert_num_queries(2):
        notes = await Note.objects.prefetch_related(Prefetch("labels", to_attr="tags")).order_by(
            "id"
        )
    assert [[label.name for label in note.tags] for note in notes] == [["red", "green"], ["blue"]]
    with pytest.raises(NotLoadedError, match=r'prefetch_related\("labels"\)'):
        _ = one.labels
    await Note.labels.set(one, [blue])
    assert [label.name for label in await one.fetch("labels")] == ["blue"]
    await Note.labels.clear(one)
    assert await one.fetch("labels") == []
    await red.delete()
    assert [label.name for label in await two.fetch("labels")] == ["blue"]


async def test_select_related_without_names_follows_non_null_keys(
    library: dict[str, Any], assert_num_queries: Any
) -> None:
    async with assert_num_queries(1):
        comments = await Comment.objects.select_related().order_by("id")
    assert comments[0].book.title == "A1"
    with pytest.raises(NotLoadedError):
        _ = comments[1].parent
