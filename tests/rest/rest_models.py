"""Models and the app of the stellate-rest tests (tables are made per test, rolled back)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from stellate.orm import CheckConstraint, Field, Model, Q


class Format(enum.Enum):
    HARDCOVER = "hardcover"
    PAPERBACK = "paperback"
    EBOOK = "ebook"


class Publisher(Model):
    class Meta:
        table = "rest_publishers"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1)


class Author(Model):
    class Meta:
        table = "rest_authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(min_length=1, max_length=50)
    publisher_id: int = Field(foreign_key=Publisher, related_name="authors")


class Book(Model):
    class Meta:
        table = "rest_books"
        constraints = (CheckConstraint(check=Q(pages__lte=10000), name="rest_books_pages_max"),)

    id: int = Field(primary_key=True, auto=True)
    title: str = Field(min_length=1, max_length=100)
    isbn: str = Field(unique=True, regex=r"[0-9]{13}")
    price: Decimal = Field(ge=0)
    pages: int = Field(default=100, ge=1)
    format: Format = Field(default=Format.PAPERBACK)
    author_id: int = Field(foreign_key=Author, related_name="books")
    owner_id: int | None = Field(default=None)
    created_at: dt.datetime = Field(default=lambda: dt.datetime.now(dt.UTC))


class Review(Model):
    class Meta:
        table = "rest_reviews"

    id: int = Field(primary_key=True, auto=True)
    book_id: int = Field(foreign_key=Book, related_name="reviews")
    rating: int = Field(ge=1, le=5)
    body: str = Field(default="")


class Account(Model):
    class Meta:
        table = "rest_accounts"

    id: int = Field(primary_key=True, auto=True)
    email: str = Field(unique=True)
    password: str = Field(default="!")
    is_active: bool = Field(default=True)


ALL_MODELS = (Publisher, Author, Book, Review, Account)


class PrincipalFromHeader:
    """Sets ``scope["user"]`` from an ``X-Test-User`` JSON header, as auth middleware does.

    The REST layer only reads ``request.user``; stellate-auth is not a dependency of it,
    so the tests put a principal there the way any auth middleware would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-user":
                    scope["user"] = json.loads(value)
                    break
        await self.app(scope, receive, send)


def user_header(**principal: Any) -> dict[str, str]:
    """Headers that make the request come from ``principal``."""
    return {"X-Test-User": json.dumps({"id": 1, "username": "ann", **principal})}


class Item(Model):
    class Meta:
        table = "rest_items"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field(unique=True, min_length=1)


ALL_MODELS = (Publisher, Author, Book, Review, Account, Item)


class Article(Model):
    class Meta:
        table = "rest_articles"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str = Field(default="")
    search: str | None = Field(default=None, db_column_type="tsvector")


ALL_MODELS = (Publisher, Author, Book, Review, Account, Item, Article)
