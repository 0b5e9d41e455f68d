"""The one schema and data set every bookstore peer serves.

The schema is the bookstore example's (``examples/bookstore/migrations``), applied to
the benchmark database with Stellate's migrations; every peer maps its own models onto
those tables. The data is deterministic, so every implementation returns the same JSON:
``PUBLISHERS`` publishers, ``AUTHORS`` authors, ``TAGS`` tags, ``BOOKS`` books with two
tags each and fixed timestamps. ``POST /api/authors/`` writes new authors; the harness
deletes every author above ``AUTHORS`` between rounds (``reset_writes``).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal

from bench.errors import BenchError
from bench.frameworks import REPO_ROOT

__all__ = ["AUTHORS", "BOOKS", "PUBLISHERS", "TAGS", "migrate", "reset_writes", "seed"]

PUBLISHERS = 10
AUTHORS = 50
TAGS = 12
BOOKS = 1000
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_TABLES = (
    "bookstore_reviews, bookstore_books_tags, bookstore_books, bookstore_tags, "
    "bookstore_categories, bookstore_authors, bookstore_publishers"
)


def migrate(env: dict[str, str]) -> None:
    """Apply the bookstore's migrations to ``env["STELLATE_DATABASE_URL"]``.

    Raises:
        BenchError: the migration command failed (its output is in the message).
    """
    migrate_env = {
        **os.environ,
        **env,
        "STELLATE_MODELS": "examples.bookstore.models",
        "STELLATE_MIGRATIONS_DIR": "examples/bookstore/migrations",
    }
    result = subprocess.run(
        [sys.executable, "-m", "stellate.orm.migrations", "migrate"],
        cwd=REPO_ROOT,
        env=migrate_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"Migrating the bookstore tables failed:\n{result.stdout}{result.stderr}")


async def seed(url: str) -> None:
    """Empty the bookstore tables and load the benchmark data set (ids from 1)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        # Commits need no WAL flush in this database: the create scenario then measures
        # the frameworks, not the shared disk's fsync latency (the same for every peer).
        name = await connection.fetchval("SELECT current_database()")
        quoted = '"' + name.replace('"', '""') + '"'
        await connection.execute(f"ALTER DATABASE {quoted} SET synchronous_commit TO off")
        async with connection.transaction():
            await connection.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
            await connection.copy_records_to_table(
                "bookstore_publishers",
                records=[
                    (f"Publisher {i:02d}", ("UK", "FR", "US")[i % 3]) for i in range(PUBLISHERS)
                ],
                columns=["name", "country"],
            )
            await connection.copy_records_to_table(
                "bookstore_authors",
                records=[
                    (f"Author {i:03d}", f"Writes book series number {i}.") for i in range(AUTHORS)
                ],
                columns=["name", "bio"],
            )
            await connection.copy_records_to_table(
                "bookstore_tags", records=[(f"tag-{i:02d}",) for i in range(TAGS)], columns=["name"]
            )
            await connection.copy_records_to_table(
                "bookstore_books",
                records=[
                    (
                        f"Book number {i:04d}",
                        f"{9780000000000 + i}",
                        Decimal(f"{5 + i % 40}.{(i * 7) % 100:02d}"),
                        80 + i % 900,
                        1 + i % AUTHORS,
                        1 + i % PUBLISHERS,
                        None,
                        (i % 50) / 10,
                        i % 13,
                        _EPOCH + dt.timedelta(minutes=i, microseconds=i * 7),
                    )
                    for i in range(BOOKS)
                ],
                columns=[
                    "title", "isbn", "price", "pages", "author_id", "publisher_id",
                    "category_id", "rating", "review_count", "created_at",
                ],
            )  # fmt: skip
            await connection.copy_records_to_table(
                "bookstore_books_tags",
                records=[
                    (book, 1 + (book + step) % TAGS)
                    for book in range(1, BOOKS + 1)
                    for step in (0, 5)
                ],
                columns=["book_id", "tag_id"],
            )
            for table in ("publishers", "authors", "tags", "books", "books_tags"):
                await connection.execute(f"ANALYZE bookstore_{table}")
    finally:
        await connection.close()


async def reset_writes(url: str) -> int:
    """Delete the authors ``POST /api/authors/`` added; returns how many."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        deleted = await connection.execute("DELETE FROM bookstore_authors WHERE id > $1", AUTHORS)
        return int(deleted.split()[-1])
    finally:
        await connection.close()
