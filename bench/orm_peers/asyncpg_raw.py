"""Raw asyncpg: the floor every ORM is compared with (workspace interpreter).

One connection held for the whole run (no pool), as bench/orm/fetch_vs_asyncpg.py:
the ORMs pay their pool's acquire and release on top of this.
"""

from __future__ import annotations

import argparse

import asyncpg
from _timing import AUTHOR_PK, BOOKS, BULK_ROWS, PREFETCH_BOOKS, SEEDED_AUTHORS, measure, run

BOOK_COLUMNS = (
    "id, title, isbn, price, pages, author_id, publisher_id, category_id, rating, "
    "review_count, created_at"
)


async def main(args: argparse.Namespace) -> None:
    connection = await asyncpg.connect(args.url)
    fetch_sql = f"SELECT {BOOK_COLUMNS} FROM bookstore_books ORDER BY id LIMIT {BOOKS}"
    get_sql = "SELECT id, name, bio FROM bookstore_authors WHERE id = $1"
    page_sql = f"SELECT {BOOK_COLUMNS} FROM bookstore_books ORDER BY id LIMIT {PREFETCH_BOOKS}"
    tags_sql = (
        "SELECT j.book_id, t.id, t.name FROM bookstore_tags t JOIN bookstore_books_tags j "
        "ON j.tag_id = t.id WHERE j.book_id = ANY($1) ORDER BY t.id"
    )

    async def fetch() -> list[asyncpg.Record]:
        return await connection.fetch(fetch_sql)

    async def get() -> asyncpg.Record:
        return await connection.fetchrow(get_sql, AUTHOR_PK)

    async def bulk() -> None:
        rows = [(f"Bulk author {i}", "") for i in range(BULK_ROWS)]
        await connection.copy_records_to_table(
            "bookstore_authors", records=rows, columns=["name", "bio"]
        )

    async def prefetch() -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
        books = await connection.fetch(page_sql)
        tags: dict[int, list[asyncpg.Record]] = {row[0]: [] for row in books}
        for row in await connection.fetch(tags_sql, list(tags)):
            tags[row[0]].append(row)
        return [(book, tags[book[0]]) for book in books]

    async def cleanup() -> None:
        await connection.execute("DELETE FROM bookstore_authors WHERE id > $1", SEEDED_AUTHORS)

    operations = {
        "fetch_1000": fetch,
        "get_pk": get,
        "bulk_insert_10000": bulk,
        "m2m_prefetch": prefetch,
    }
    await measure("asyncpg", operations, cleanup, args, ("asyncpg",))
    await connection.close()


if __name__ == "__main__":
    run(main)
