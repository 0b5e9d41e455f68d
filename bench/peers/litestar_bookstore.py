"""Litestar + SQLAlchemy 2 (async, asyncpg, Litestar's SQLAlchemy plugin) + msgspec.

Litestar's recommended stack: the SQLAlchemy plugin (advanced-alchemy) gives each
handler a ``db_session`` and commits after a successful write (``autocommit``);
responses and the request body are msgspec Structs, query parameters are validated
with ``Parameter`` (Litestar answers 400 for invalid input). The models are the
FastAPI peer's (``sqla_models.py``). The cursor is the last id of the page, unsigned.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.params import Parameter
from litestar.plugins.sqlalchemy import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from sqla_models import PAGE_SIZE, Author, Book, database_url
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload


class AuthorOut(msgspec.Struct):
    id: int
    name: str
    bio: str


class AuthorIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    bio: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class AuthorSummary(msgspec.Struct):
    id: int
    name: str


class PublisherOut(msgspec.Struct):
    id: int
    name: str
    country: str


class TagOut(msgspec.Struct):
    id: int
    name: str


class BookOut(msgspec.Struct):
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


class BookPage(msgspec.Struct):
    results: list[BookOut]
    next: str | None
    previous: str | None


def _book(book: Book) -> BookOut:
    return BookOut(
        id=book.id,
        title=book.title,
        isbn=book.isbn,
        price=book.price,
        pages=book.pages,
        author_id=book.author_id,
        author=AuthorSummary(id=book.author.id, name=book.author.name),
        publisher_id=book.publisher_id,
        publisher=PublisherOut(
            id=book.publisher.id, name=book.publisher.name, country=book.publisher.country
        ),
        category_id=book.category_id,
        tags=[TagOut(id=tag.id, name=tag.name) for tag in book.tags],
        rating=book.rating,
        review_count=book.review_count,
        created_at=book.created_at,
    )


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/params/{item_id:int}")
async def params(
    item_id: int,
    q: Annotated[str, Parameter(min_length=1, max_length=50)],
    limit: Annotated[int, Parameter(ge=1, le=100)] = 10,
) -> dict[str, int | str]:
    return {"item_id": item_id, "q": q, "limit": limit}


@get("/api/authors/{author_id:int}/")
async def get_author(author_id: int, db_session: AsyncSession) -> AuthorOut:
    author = await db_session.get(Author, author_id)
    if author is None:
        raise NotFoundException()
    return AuthorOut(id=author.id, name=author.name, bio=author.bio)


@post("/api/authors/")
async def create_author(data: AuthorIn, db_session: AsyncSession) -> AuthorOut:
    author = Author(name=data.name, bio=data.bio)
    db_session.add(author)
    await db_session.flush()
    return AuthorOut(id=author.id, name=author.name, bio=author.bio)


@get("/api/books/")
async def list_books(db_session: AsyncSession, cursor: int | None = None) -> BookPage:
    query = (
        select(Book)
        .options(joinedload(Book.author), joinedload(Book.publisher), selectinload(Book.tags))
        .order_by(Book.id.desc())
        .limit(PAGE_SIZE + 1)
    )
    if cursor is not None:
        query = query.where(Book.id < cursor)
    books = list((await db_session.scalars(query)).all())
    more = len(books) > PAGE_SIZE
    books = books[:PAGE_SIZE]
    return BookPage(
        results=[_book(book) for book in books],
        next=f"?cursor={books[-1].id}" if more else None,
        previous=None,
    )


alchemy = SQLAlchemyAsyncConfig(
    connection_string=database_url(),
    engine_config=EngineConfig(pool_size=4, max_overflow=0),
    session_config=AsyncSessionConfig(expire_on_commit=False),
    before_send_handler="autocommit",
    create_all=False,
)

app = Litestar(
    route_handlers=[hello, params, get_author, create_author, list_books],
    plugins=[SQLAlchemyPlugin(config=alchemy)],
    openapi_config=OpenAPIConfig(title="Bench bookstore", version="1.0.0", path="/schema"),
)
