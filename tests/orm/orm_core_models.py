"""Models shared by the stellate-orm core tests (tables are made per test, rolled back)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from stellate.orm import (
    CheckConstraint,
    Field,
    Index,
    Model,
    OnDelete,
    Q,
    UniqueConstraint,
)


class Status(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Publisher(Model):
    class Meta:
        table = "core_publishers"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1)
    country: str = Field(default="NZ")


class Author(Model):
    class Meta:
        table = "core_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1, max_length=50)
    email: str = Field(unique=True, regex=r"[^@]+@[^@]+")
    age: int | None = Field(default=None, ge=0, le=150)
    publisher_id: int | None = Field(
        default=None, foreign_key=Publisher, related_name="authors", on_delete=OnDelete.SET_NULL
    )


class Book(Model):
    class Meta:
        table = "core_books"
        indexes = (Index("status", "-created_at"),)
        constraints = (
            CheckConstraint(check=Q(pages__gte=0), name="core_books_pages_nonnegative"),
            UniqueConstraint(
                fields=["slug"], name="core_books_live_slug", condition=~Q(status="archived")
            ),
        )

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1)
    slug: str = Field()
    author_id: int = Field(foreign_key=Author, related_name="books", on_delete=OnDelete.CASCADE)
    pages: int = Field(default=0)
    price: Decimal = Field(default=Decimal("0"))
    rating: float | None = Field(default=None)
    published: bool = Field(default=False)
    status: Status = Field(default=Status.DRAFT)
    data: dict[str, Any] = Field(default=dict)
    content: str = Field(default="")
    created_at: dt.datetime = Field(default=lambda: dt.datetime.now(dt.UTC))
    released: dt.date | None = Field(default=None)


class Comment(Model):
    class Meta:
        table = "core_comments"

    id: int = Field(primary_key=True, auto=True)
    book_id: int = Field(foreign_key="Book", related_name="comments", on_delete=OnDelete.CASCADE)
    parent_id: int | None = Field(default=None, foreign_key="Comment", related_name="replies")
    body: str = Field()
    score: int = Field(default=0)


ALL_MODELS = (Publisher, Author, Book, Comment)
