"""Fixtures of the stellate-rest tests: the API app over real HTTP on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from rest_api import make_app
from rest_models import ALL_MODELS, Author, Book, Publisher, Review

from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.testing import create_tables


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(*ALL_MODELS)
    return db


@pytest.fixture
async def client(tables: Database) -> AsyncIterator[AppClient]:
    async with AppClient(make_app()) as client:
        yield client


@pytest.fixture
async def library(tables: Database) -> dict[str, Any]:
    """Two publishers, three authors, 25 books and a few reviews."""
    north = await Publisher.objects.create(name="North")
    south = await Publisher.objects.create(name="South")
    authors = [
        await Author.objects.create(name=name, publisher_id=pub.id)
        for name, pub in (("Ann", north), ("Bob", south), ("Cy", north))
    ]
    books = []
    for number in range(25):
        books.append(
            await Book.objects.create(
                title=f"Book {number:02d}",
                isbn=f"{9780000000000 + number}",
                price=Decimal(number % 7) + Decimal("0.50"),
                pages=50 + number * 30,
                author_id=authors[number % 3].id,
            )
        )
    for rating in (5, 4, 3):
        await Review.objects.create(book_id=books[0].id, rating=rating, body=f"r{rating}")
    return {"publishers": [north, south], "authors": authors, "books": books}
