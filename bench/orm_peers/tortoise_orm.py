"""Tortoise ORM with asyncpg (bench/.venvs/tortoise), on the Tortoise peer's models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))  # tortoise_bookstore

from _timing import AUTHOR_PK, BOOKS, BULK_ROWS, PREFETCH_BOOKS, SEEDED_AUTHORS, measure, run
from tortoise import Tortoise
from tortoise_bookstore import Author, Book


async def main(args: argparse.Namespace) -> None:
    url = args.url.replace("postgresql://", "asyncpg://", 1)
    await Tortoise.init(
        db_url=f"{url}?maxsize=4",
        modules={"models": ["tortoise_bookstore"]},
        _enable_global_fallback=True,
    )

    async def fetch() -> list[Book]:
        return await Book.all().order_by("id").limit(BOOKS)

    async def get() -> Author:
        return await Author.get(id=AUTHOR_PK)

    async def bulk() -> None:
        await Author.bulk_create(
            [Author(name=f"Bulk author {i}", bio="") for i in range(BULK_ROWS)]
        )

    async def prefetch() -> list[Book]:
        books = await Book.all().order_by("id").limit(PREFETCH_BOOKS).prefetch_related("tags")
        for book in books:
            [tag.name for tag in book.tags]
        return books

    async def cleanup() -> None:
        await Author.filter(id__gt=SEEDED_AUTHORS).delete()

    operations = {
        "fetch_1000": fetch,
        "get_pk": get,
        "bulk_insert_10000": bulk,
        "m2m_prefetch": prefetch,
    }
    await measure("tortoise", operations, cleanup, args, ("tortoise-orm", "asyncpg"))
    await Tortoise.close_connections()


if __name__ == "__main__":
    run(main)
