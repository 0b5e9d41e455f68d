"""Model signals: what save()/delete() send, to whom, in which order, and what sends none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stellate.orm import (
    F,
    Field,
    Model,
    UniqueViolation,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)
from stellate.orm.testing import create_tables


class SigAuthor(Model):
    class Meta:
        table = "sig_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True)


class SigBook(Model):
    class Meta:
        table = "sig_books"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1)
    slug: str = Field(default="")
    pages: int = Field(default=0)


Event = tuple[str, type[Model], dict[str, Any]]


@pytest.fixture
async def tables(db: Any) -> None:
    await create_tables(SigAuthor, SigBook)


@pytest.fixture
def events() -> Iterator[list[Event]]:
    """Every model signal sent during the test, with the sender and arguments."""
    seen: list[Event] = []

    def recorder(name: str) -> Any:
        async def receive(sender: type[Model], **kwargs: Any) -> None:
            # Record the state the instance has when the receiver runs.
            kwargs["pk"] = kwargs["instance"].pk
            seen.append((name, sender, kwargs))

        return receive

    receivers = {
        signal: recorder(signal.name) for signal in (pre_save, post_save, pre_delete, post_delete)
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    yield seen
    for signal, receiver in receivers.items():
        assert signal.disconnect(receiver)


def names(events: list[Event]) -> list[str]:
    return [name for name, _, _ in events]


async def test_create_sends_pre_save_then_post_save_created(
    tables: None, events: list[Event]
) -> None:
    book = await SigBook.objects.create(title="Dune")
    assert names(events) == ["pre_save", "post_save"]
    (_, pre_sender, pre), (_, post_sender, post) = events
    assert pre_sender is SigBook
    assert post_sender is SigBook
    assert pre["instance"] is book
    assert pre["pk"] is None
    assert post["instance"] is book
    assert post["pk"] == book.id
    assert post["created"] is True
    assert "created" not in pre


async def test_update_sends_created_false(tables: None, events: list[Event]) -> None:
    book = await SigBook.objects.create(title="Dune")
    loaded = await SigBook.objects.get(pk=book.id)
    events.clear()
    loaded.title = "Dune Messiah"
    await loaded.save()
    await loaded.save(update_fields=["title"])
    assert names(events) == ["pre_save", "post_save", "pre_save", "post_save"]
    assert [e[2]["created"] for e in events if e[0] == "post_save"] == [False, False]


async def test_saving_a_loaded_instance_whose_row_is_gone_reports_created(
    tables: None, events: list[Event]
) -> None:
    book = await SigBook.objects.create(title="Dune")
    await SigBook.objects.filter(pk=book.id).delete()
    events.clear()
    await book.save()  # re-inserted, as documented
    assert events[-1][0] == "post_save"
    assert events[-1][2]["created"] is True
    assert await SigBook.objects.filter(pk=book.id).exists()


async def test_pre_save_changes_are_validated_and_written(tables: None) -> None:
    @pre_save.connect(sender=SigBook)
    def slugify(sender: type[SigBook], instance: SigBook, **kwargs: Any) -> None:
        # A plain (sync) receiver, as the guide's set_timestamps but not async.
        instance.slug = instance.title.lower().replace(" ", "-")

    try:
        book = await SigBook.objects.create(title="The Left Hand")
        assert book.slug == "the-left-hand"
        assert (await SigBook.objects.get(pk=book.id)).slug == "the-left-hand"
    finally:
        assert pre_save.disconnect(slugify, sender=SigBook)


async def test_sender_filter_only_receives_its_model(tables: None) -> None:
    received: list[str] = []

    async def on_book(sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
        received.append(f"{sender.__name__}:{created}")

    post_save.connect(on_book, sender=SigBook)
    try:
        await SigAuthor.objects.create(name="Le Guin")
        book = await SigBook.objects.create(title="Lathe")
        await book.save()
    finally:
        post_save.disconnect(on_book, sender=SigBook)
    assert received == ["SigBook:True", "SigBook:False"]
    await SigBook.objects.create(title="after disconnect")
    assert received == ["SigBook:True", "SigBook:False"]


async def test_a_raising_pre_save_prevents_the_write(tables: None) -> None:
    class Refused(Exception):
        pass

    async def refuse(sender: type[Model], instance: Model, **kwargs: Any) -> None:
        raise Refused("no")

    pre_save.connect(refuse, sender=SigBook)
    try:
        with pytest.raises(Refused):
            await SigBook.objects.create(title="never written")
    finally:
        pre_save.disconnect(refuse, sender=SigBook)
    assert await SigBook.objects.count() == 0


async def test_invalid_instance_sends_pre_save_but_not_post_save(
    tables: None, events: list[Event]
) -> None:
    book = SigBook(title="ok")
    book.title = ""
    with pytest.raises(Exception, match="title"):
        await book.save()
    assert names(events) == ["pre_save"]
    assert await SigBook.objects.count() == 0


async def test_failed_insert_sends_no_post_save(tables: None, events: list[Event]) -> None:
    await SigAuthor.objects.create(name="Le Guin")
    events.clear()
    with pytest.raises(UniqueViolation):
        await SigAuthor.objects.create(name="Le Guin")
    assert names(events) == ["pre_save"]


async def test_delete_sends_pre_and_post_delete(tables: None, events: list[Event]) -> None:
    book = await SigBook.objects.create(title="Dune")
    book_id = book.id
    events.clear()
    await book.delete()
    assert names(events) == ["pre_delete", "post_delete"]
    assert all(e[1] is SigBook and e[2]["instance"] is book for e in events)
    assert [e[2]["soft"] for e in events] == [False, False]
    assert events[0][2]["pk"] == book_id
    assert not await SigBook.objects.filter(pk=book_id).exists()


async def test_a_raising_pre_delete_keeps_the_row(tables: None) -> None:
    def protect(sender: type[Model], instance: Model, **kwargs: Any) -> None:
        raise PermissionError(f"{instance!r} is protected")

    book = await SigBook.objects.create(title="Dune")
    pre_delete.connect(protect, sender=SigBook)
    try:
        with pytest.raises(PermissionError, match="protected"):
            await book.delete()
    finally:
        pre_delete.disconnect(protect, sender=SigBook)
    assert await SigBook.objects.filter(pk=book.id).exists()


async def test_get_or_create_sends_save_signals_only_when_it_inserts(
    tables: None, events: list[Event]
) -> None:
    author, created = await SigAuthor.objects.get_or_create(name="Herbert")
    assert created
    assert names(events) == ["pre_save", "post_save"]
    assert events[1][2]["created"] is True
    assert events[1][2]["instance"] is author
    events.clear()
    again, created = await SigAuthor.objects.get_or_create(name="Herbert")
    assert not created
    assert again.id == author.id
    assert events == []


async def test_set_based_operations_send_no_signals(tables: None, events: list[Event]) -> None:
    books = await SigBook.objects.bulk_create([SigBook(title="a"), SigBook(title="b")])
    assert all(book.id is not None for book in books)
    assert await SigBook.objects.filter(title="a").update(pages=F("pages") + 1) == 1
    await SigBook.objects.bulk_update(books, ["title"])
    assert await SigBook.objects.delete() == 2
    assert events == []


async def test_without_receivers_save_costs_one_query(
    tables: None, assert_num_queries: Any
) -> None:
    assert not post_save.has_receivers(SigBook)
    async with assert_num_queries(1):
        book = await SigBook.objects.create(title="Dune")
    async with assert_num_queries(1):
        await book.save()
    async with assert_num_queries(1):
        await book.delete()


async def test_receivers_must_accept_kwargs() -> None:
    def bad(sender: type[Model], instance: Model) -> None:
        pass

    with pytest.raises(TypeError, match=r"must accept \*\*kwargs"):
        post_save.connect(bad)
    assert not post_save.has_receivers(SigBook)


async def test_update_or_create_sends_save_signals_only_when_it_creates(
    tables: None, events: list[Event]
) -> None:
    author, created = await SigAuthor.objects.update_or_create(name="Banks")
    assert created
    assert names(events) == ["pre_save", "post_save"]
    assert events[1][2]["instance"] is author
    events.clear()
    book = await SigBook.objects.create(title="Excession")
    events.clear()
    _, created = await SigBook.objects.update_or_create(defaults={"pages": 5}, id=book.id)
    assert not created
    assert events == []  # the existing row is changed by QuerySet.update()
