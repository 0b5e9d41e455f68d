"""stellate-orm with the bookstore example's models (workspace interpreter)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from _timing import AUTHOR_PK, BOOKS, BULK_ROWS, PREFETCH_BOOKS, SEEDED_AUTHORS, measure, run

from examples.bookstore.models import Author, Book
from stellate.orm import connect


async def main(args: argparse.Namespace) -> None:
    async with connect(args.url) as db:

        async def fetch() -> list[Book]:
            return await Book.objects.order_by("id").limit(BOOKS).all()

        async def get() -> Author:
            return await Author.objects.get(pk=AUTHOR_PK)

        async def bulk() -> list[Author]:
            return await Author.objects.bulk_create(
                [Author(name=f"Bulk author {i}", bio="") for i in range(BULK_ROWS)]
            )

        async def prefetch() -> list[Book]:
            query = Book.objects.order_by("id").limit(PREFETCH_BOOKS).prefetch_related("tags")
            books = await query.all()
            for book in books:
                [tag.name for tag in book.tags]
            return books

        async def cleanup() -> None:
            await db.execute("DELETE FROM bookstore_authors WHERE id > $1", SEEDED_AUTHORS)

        operations = {
            "fetch_1000": fetch,
            "get_pk": get,
            "bulk_insert_10000": bulk,
            "m2m_prefetch": prefetch,
        }
        await measure("stellate-orm", operations, cleanup, args, ("stellate-orm", "asyncpg"))


if __name__ == "__main__":
    run(main)
