"""The bookstore's tables: publishers, authors, categories, tags, books and reviews.

Table names carry a ``bookstore_`` prefix so the example can share a database (the
test database, say) with other apps' tables of the same plain names.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from stellate.orm import Field, ManyToManyField, Model, OnDelete


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Publisher(Model):
    """A publishing house."""

    class Meta:
        table = "bookstore_publishers"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=100)
    country: str = Field(default="", max_length=60)


class Author(Model):
    """A person who writes books."""

    class Meta:
        table = "bookstore_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1, max_length=100)
    bio: str = Field(default="", max_length=2000)


class Category(Model):
    """A shelf such as ``Fiction``; a book sits on at most one."""

    class Meta:
        table = "bookstore_categories"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=60)


class Tag(Model):
    """A label such as ``science-fiction``; books have many, tags have many books."""

    class Meta:
        table = "bookstore_tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1, max_length=40, regex=r"[a-z0-9-]+")


class Book(Model):
    """A title in the catalogue; ``rating`` is kept up to date by a background task."""

    class Meta:
        table = "bookstore_books"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=200)
    isbn: str = Field(unique=True, regex=r"[0-9]{13}")
    price: Decimal = Field(ge=0, le=10000)
    pages: int = Field(default=100, ge=1, le=10000)
    author_id: int = Field(foreign_key=Author, related_name="books", on_delete=OnDelete.PROTECT)
    publisher_id: int = Field(
        foreign_key=Publisher, related_name="books", on_delete=OnDelete.PROTECT
    )
    # Nullable so the column could be added to a populated table; deleting a category
    # leaves its books uncategorised instead of blocking the delete.
    category_id: int | None = Field(
        default=None, foreign_key=Category, related_name="books", on_delete=OnDelete.SET_NULL
    )
    rating: float = Field(default=0.0, ge=0, le=5)
    review_count: int = Field(default=0, ge=0)
    created_at: dt.datetime = Field(default=_now)
    tags: ClassVar[Any] = ManyToManyField(Tag, through="bookstore_books_tags")


class Review(Model):
    """A reader's rating (1-5) of a book; ``user_id`` is the reviewer's account."""

    class Meta:
        table = "bookstore_reviews"

    id: int = Field(primary_key=True, auto=True)
    book_id: int = Field(foreign_key=Book, related_name="reviews", on_delete=OnDelete.CASCADE)
    user_id: int = Field(index=True)
    rating: int = Field(ge=1, le=5)
    body: str = Field(default="", max_length=5000)
    created_at: dt.datetime = Field(default=_now)


ALL_MODELS: tuple[type[Model], ...] = (Publisher, Author, Category, Tag, Book, Review)
