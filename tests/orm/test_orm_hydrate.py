"""The generated row builders: flat rows, joined rows, converters, shared and missing parents."""

from __future__ import annotations

from typing import Any

import pytest
from orm_core_models import ALL_MODELS, Author, Book, Comment, Publisher, Status

from stellate.orm.testing import create_tables


@pytest.fixture
async def shelf(db: Any) -> dict[str, Any]:
    await create_tables(*ALL_MODELS)
    press = await Publisher.objects.create(name="Press", country="FR")
    ann = await Author.objects.create(name="Ann", email="ann@x.io", publisher_id=press.id)
    bob = await Author.objects.create(name="Bob", email="bob@x.io")
    first = await Book.objects.create(
        title="A1", slug="a1", author_id=ann.id, status=Status.PUBLISHED, data={"k": [1]}
    )
    await Book.objects.create(title="A2", slug="a2", author_id=ann.id)
    await Book.objects.create(title="B1", slug="b1", author_id=bob.id)
    top = await Comment.objects.create(book_id=first.id, body="top")
    await Comment.objects.create(book_id=first.id, body="reply", parent_id=top.id)
    return {"press": press, "ann": ann, "bob": bob}


async def test_flat_rows_convert_fields_and_keep_every_column(shelf: dict[str, Any]) -> None:
    books = await Book.objects.order_by("id")
    assert [b.title for b in books] == ["A1", "A2", "B1"]
    assert books[0].status is Status.PUBLISHED  # through the enum converter
    assert books[1].status is Status.DRAFT
    assert books[0].data == {"k": [1]}
    assert books[0].to_dict()["slug"] == "a1"
    only = await Book.objects.only("id", "title").order_by("id")
    assert [b.title for b in only] == ["A1", "A2", "B1"]


async def test_joined_rows_share_one_instance_per_related_row(shelf: dict[str, Any]) -> None:
    books = await Book.objects.select_related("author", "author__publisher").order_by("id")
    assert books[0].author is books[1].author  # same joined row, same instance
    assert books[0].author.publisher.country == "FR"
    assert books[0].status is Status.PUBLISHED  # converters still run on the main model
    assert books[2].author.name == "Bob"
    assert books[2].author.publisher is None
    assert books[0].author_id == shelf["ann"].id


async def test_a_nested_relation_under_a_missing_parent_is_skipped(
    shelf: dict[str, Any],
) -> None:
    comments = await Comment.objects.select_related("parent__book", "book").order_by("id")
    assert comments[0].parent is None  # no parent: nothing below it is built
    assert comments[1].parent.body == "top"
    assert comments[1].parent.book.title == "A1"
    assert comments[0].book.title == "A1"
    assert comments[0].book is comments[1].book


async def test_the_key_spelling_wraps_the_key_on_the_generated_path(
    shelf: dict[str, Any],
) -> None:
    books = await Book.objects.select_related("author_id").order_by("id")
    assert books[0].author_id == shelf["ann"].id
    assert books[0].author_id.name == "Ann"
    assert books[2].author_id.email == "bob@x.io"
