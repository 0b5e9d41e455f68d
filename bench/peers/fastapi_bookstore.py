"""FastAPI + SQLAlchemy 2 (async, asyncpg) + Pydantic serving the benchmark bookstore.

Written the way FastAPI's documentation does it: a session per request from a
dependency, Pydantic response models read from ORM attributes, ``Query`` and body
validation declared in the signature (FastAPI answers 422 for invalid input). The
cursor is the last id of the page (``?cursor=<id>``), not signed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqla_models import PAGE_SIZE, Author, Book, database_url
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import joinedload, selectinload

engine = create_async_engine(database_url(), pool_size=4, max_overflow=0)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AuthorOut(ORMModel):
    id: int
    name: str
    bio: str


class AuthorIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    bio: str = Field(default="", max_length=2000)


class AuthorSummary(ORMModel):
    id: int
    name: str


class PublisherOut(ORMModel):
    id: int
    name: str
    country: str


class TagOut(ORMModel):
    id: int
    name: str


class BookOut(ORMModel):
    id: int
    title: str
    isbn: str
    price: Decimal
    pages: int
    author_id: int
    author: AuthorSummary
    publisher_id: int
    publisher: PublisherOut
    category_id: int | None
    tags: list[TagOut]
    rating: float
    review_count: int
    created_at: dt.datetime


class BookPage(BaseModel):
    results: list[BookOut]
    next: str | None
    previous: str | None


app = FastAPI(title="Bench bookstore", version="1.0.0")


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/params/{item_id}")
async def params(
    item_id: int,
    q: Annotated[str, Query(min_length=1, max_length=50)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, int | str]:
    return {"item_id": item_id, "q": q, "limit": limit}


@app.get("/api/authors/{author_id}/", response_model=AuthorOut)
async def get_author(author_id: int, session: SessionDep) -> Author:
    author = await session.get(Author, author_id)
    if author is None:
        raise HTTPException(404, "Not found")
    return author


@app.post("/api/authors/", response_model=AuthorOut, status_code=201)
async def create_author(body: AuthorIn, session: SessionDep) -> Author:
    author = Author(name=body.name, bio=body.bio)
    session.add(author)
    await session.commit()
    return author


@app.get("/api/books/", response_model=BookPage)
async def list_books(session: SessionDep, cursor: int | None = None) -> BookPage:
    query = (
        select(Book)
        .options(joinedload(Book.author), joinedload(Book.publisher), selectinload(Book.tags))
        .order_by(Book.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if cursor is not None:
        query = query.where(Book.id < cursor)
    books = list((await session.scalars(query)).all())
    more = len(books) > PAGE_SIZE
    books = books[:PAGE_SIZE]
    return BookPage(
        results=[BookOut.model_validate(book) for book in books],
        next=f"?cursor={books[-1].id}" if more else None,
        previous=None,
    )
