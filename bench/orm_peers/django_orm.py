"""Django ORM (sync, psycopg 3; bench/.venvs/django), on the Django peer's models.

Django's ORM is synchronous: the operations are plain calls, timed the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))  # djangobench

from _timing import AUTHOR_PK, BOOKS, BULK_ROWS, PREFETCH_BOOKS, SEEDED_AUTHORS, measure, run


async def main(args: argparse.Namespace) -> None:
    os.environ["STELLATE_DATABASE_URL"] = args.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangobench.settings")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync calls from this timing loop
    import django

    django.setup()
    from djangobench.models import Author, Book

    def fetch() -> list[Book]:
        return list(Book.objects.order_by("id")[:BOOKS])

    def get() -> Author:
        return Author.objects.get(pk=AUTHOR_PK)

    def bulk() -> list[Author]:
        return Author.objects.bulk_create(
            [Author(name=f"Bulk author {i}", bio="") for i in range(BULK_ROWS)]
        )

    def prefetch() -> list[Book]:
        books = list(Book.objects.order_by("id").prefetch_related("tags")[:PREFETCH_BOOKS])
        for book in books:
            [tag.name for tag in book.tags.all()]
        return books

    def cleanup() -> None:
        Author.objects.filter(id__gt=SEEDED_AUTHORS).delete()

    operations = {
        "fetch_1000": fetch,
        "get_pk": get,
        "bulk_insert_10000": bulk,
        "m2m_prefetch": prefetch,
    }
    await measure("django", operations, cleanup, args, ("django", "psycopg"))


if __name__ == "__main__":
    run(main)
