"""Models & fields guide: field types, options, relations, enums, validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

from stellate.orm import (
    CheckConstraint,
    Field,
    FieldError,
    Index,
    JSONField,
    ManyToManyField,
    Model,
    NotLoadedError,
    OnDelete,
    Q,
    UniqueViolation,
    ValidationError,
    transaction,
)


# --8<-- [start:models]
class Status(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Publisher(Model):
    class Meta:
        table = "guide_publishers"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True)


class Tag(Model):
    class Meta:
        table = "guide_tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True)


class Book(Model):
    class Meta:
        table = "guide_books"
        indexes = [Index("published_on")]
        constraints = [CheckConstraint(check=Q(price__gte=0), name="guide_books_price_gte_0")]

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1)
    isbn: str | None = Field(default=None, unique=True, regex=r"\d{13}")
    price: Decimal = Field(default=Decimal("0.00"), ge=0)
    pages: int = Field(default=0, ge=0)
    status: Status = Field(default=Status.DRAFT)
    published_on: dt.date | None = Field(default=None)
    extra: dict = JSONField(default_factory=dict)  # JSONB
    publisher_id: int = Field(
        foreign_key=Publisher, related_name="books", on_delete=OnDelete.CASCADE
    )
    tags: ClassVar[Any] = ManyToManyField(Tag)  # junction table guide_books_guide_tags


# --8<-- [end:models]


async def main() -> None:
    # --8<-- [start:usage]
    orbit = await Publisher.objects.create(name="Orbit")
    book = await Book.objects.create(title="Dune", publisher_id=orbit.id, pages=412)
    assert book.id is not None  # the database assigned the key
    assert book.status is Status.DRAFT  # enums come back as members

    # Validation runs before any SQL and reports every failing field at once.
    try:
        Book(title="", pages=-1, publisher_id=orbit.id)
    except ValidationError as exc:
        assert set(exc.errors) == {"title", "pages"}

    # Constraints the database enforces become typed errors naming the constraint.
    await Book.objects.filter(id=book.id).update(isbn="9780441013593")
    try:
        async with transaction():  # inside a transaction, a savepoint keeps it usable
            await Book.objects.create(title="Copy", isbn="9780441013593", publisher_id=orbit.id)
    except UniqueViolation as exc:
        assert "isbn" in str(exc)

    # Relations are loaded when asked for, never behind your back.
    loaded = await Book.objects.get(pk=book.id)
    try:
        loaded.publisher
    except NotLoadedError:
        pass
    loaded = await Book.objects.select_related("publisher").get(pk=book.id)
    assert loaded.publisher.name == "Orbit"

    # Many-to-many: change it through the field, load it with prefetch_related.
    scifi = await Tag.objects.create(name="science fiction")
    await Book.tags.add(book, scifi)
    [with_tags] = await Book.objects.filter(id=book.id).prefetch_related("tags").all()
    assert [tag.name for tag in with_tags.tags] == ["science fiction"]

    # Unknown names fail early, with a suggestion.
    try:
        Book.objects.filter(titel="Dune")
    except FieldError as exc:
        assert "title" in str(exc)
    # --8<-- [end:usage]
