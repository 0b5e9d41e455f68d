"""SQLAlchemy 2 ORM, async with asyncpg (bench/.venvs/fastapi), on the FastAPI peer's models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))  # sqla_models

from _timing import AUTHOR_PK, BOOKS, BULK_ROWS, PREFETCH_BOOKS, SEEDED_AUTHORS, measure, run
from sqla_models import Author, Book
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload


async def main(args: argparse.Namespace) -> None:
    engine = create_async_engine(
        args.url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=4
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def fetch() -> list[Book]:
        async with sessions() as session:
            return list((await session.scalars(select(Book).order_by(Book.id).limit(BOOKS))).all())

    async def get() -> Author | None:
        async with sessions() as session:
            return await session.get(Author, AUTHOR_PK)

    async def bulk() -> None:
        async with sessions() as session:
            # The ORM bulk INSERT of SQLAlchemy 2 (insertmanyvalues, batched).
            await session.execute(
                insert(Author), [{"name": f"Bulk author {i}", "bio": ""} for i in range(BULK_ROWS)]
            )
            await session.commit()

    async def prefetch() -> list[Book]:
        async with sessions() as session:
            query = (
                select(Book)
                .options(selectinload(Book.tags))
                .order_by(Book.id)
                .limit(PREFETCH_BOOKS)
            )
            books = list((await session.scalars(query)).all())
            for book in books:
                [tag.name for tag in book.tags]
            return books

    async def cleanup() -> None:
        async with sessions() as session:
            await session.execute(delete(Author).where(Author.id > SEEDED_AUTHORS))
            await session.commit()

    operations = {
        "fetch_1000": fetch,
        "get_pk": get,
        "bulk_insert_10000": bulk,
        "m2m_prefetch": prefetch,
    }
    await measure("sqlalchemy", operations, cleanup, args, ("sqlalchemy", "asyncpg"))
    await engine.dispose()


if __name__ == "__main__":
    run(main)
