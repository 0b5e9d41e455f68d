"""Tortoise ORM (asyncpg) on Starlette, with Pydantic validating input, for the bookstore.

Tortoise has no web layer of its own; its documentation pairs it with Starlette
(``tortoise.contrib.starlette.RegisterTortoise`` in the lifespan) and Pydantic. The handlers build
the JSON by hand from the models (``JSONResponse``), validate the query and body with
Pydantic (400 with its errors) and serve the OpenAPI document Starlette's
``SchemaGenerator`` builds from the docstrings. The cursor is the last id, unsigned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.schemas import SchemaGenerator
from tortoise import fields
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.models import Model

PAGE_SIZE = 20


class Publisher(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    country = fields.TextField()

    class Meta:
        table = "bookstore_publishers"


class Author(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    bio = fields.TextField()

    class Meta:
        table = "bookstore_authors"


class Tag(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()

    class Meta:
        table = "bookstore_tags"


class Book(Model):
    id = fields.IntField(primary_key=True)
    title = fields.TextField()
    isbn = fields.TextField()
    price = fields.DecimalField(max_digits=12, decimal_places=2)
    pages = fields.IntField()
    author: fields.ForeignKeyRelation[Author] = fields.ForeignKeyField(
        "models.Author", related_name="books"
    )
    publisher: fields.ForeignKeyRelation[Publisher] = fields.ForeignKeyField(
        "models.Publisher", related_name="books"
    )
    category_id = fields.IntField(null=True)
    rating = fields.FloatField()
    review_count = fields.IntField()
    created_at = fields.DatetimeField()
    tags: fields.ManyToManyRelation[Tag] = fields.ManyToManyField(
        "models.Tag", through="bookstore_books_tags", backward_key="book_id", forward_key="tag_id"
    )

    class Meta:
        table = "bookstore_books"


class Params(BaseModel):
    q: str = Field(min_length=1, max_length=50)
    limit: int = Field(default=10, ge=1, le=100)


class AuthorIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    bio: str = Field(default="", max_length=2000)


def _invalid(exc: ValidationError) -> JSONResponse:
    return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, 400)


def _book(book: Book) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "isbn": book.isbn,
        "price": str(book.price),
        "pages": book.pages,
        "author_id": book.author_id,  # type: ignore[attr-defined]
        "author": {"id": book.author.id, "name": book.author.name},
        "publisher_id": book.publisher_id,  # type: ignore[attr-defined]
        "publisher": {
            "id": book.publisher.id,
            "name": book.publisher.name,
            "country": book.publisher.country,
        },
        "category_id": book.category_id,
        "tags": [{"id": tag.id, "name": tag.name} for tag in book.tags],
        "rating": book.rating,
        "review_count": book.review_count,
        "created_at": book.created_at.isoformat(),
    }


async def hello(request: Request) -> JSONResponse:
    """responses: {200: {description: A greeting}}"""
    return JSONResponse({"hello": "world"})


async def params(request: Request) -> JSONResponse:
    """responses: {200: {description: The validated parameters}}"""
    try:
        query = Params.model_validate(dict(request.query_params))
    except ValidationError as exc:
        return _invalid(exc)
    item_id = request.path_params["item_id"]
    return JSONResponse({"item_id": item_id, "q": query.q, "limit": query.limit})


async def get_author(request: Request) -> JSONResponse:
    """responses: {200: {description: One author}, 404: {description: No such author}}"""
    author = await Author.get_or_none(id=request.path_params["author_id"])
    if author is None:
        return JSONResponse({"detail": "Not found"}, 404)
    return JSONResponse({"id": author.id, "name": author.name, "bio": author.bio})


async def create_author(request: Request) -> JSONResponse:
    """responses: {201: {description: The new author}, 400: {description: Invalid body}}"""
    try:
        body = AuthorIn.model_validate_json(await request.body())
    except ValidationError as exc:
        return _invalid(exc)
    author = await Author.create(name=body.name, bio=body.bio)
    return JSONResponse({"id": author.id, "name": author.name, "bio": author.bio}, 201)


async def list_books(request: Request) -> JSONResponse:
    """responses: {200: {description: A cursor page of 20 books}}"""
    query = Book.all()
    cursor = request.query_params.get("cursor")
    if cursor is not None:
        if not cursor.isdigit():
            return JSONResponse({"detail": "cursor must be an integer"}, 400)
        query = query.filter(id__lt=int(cursor))
    books = await (
        query.order_by("-id")
        .limit(PAGE_SIZE + 1)
        .select_related("author", "publisher")
        .prefetch_related("tags")
    )
    more = len(books) > PAGE_SIZE
    books = books[:PAGE_SIZE]
    for book in books:
        book.tags.related_objects.sort(key=lambda tag: tag.id)
    return JSONResponse(
        {
            "results": [_book(book) for book in books],
            "next": f"?cursor={books[-1].id}" if more else None,
            "previous": None,
        }
    )


schemas = SchemaGenerator(
    {"openapi": "3.0.0", "info": {"title": "Bench bookstore", "version": "1.0.0"}}
)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["STELLATE_DATABASE_URL"].replace("postgresql://", "asyncpg://", 1)
    async with RegisterTortoise(app, db_url=f"{url}?maxsize=4", modules={"models": [__name__]}):
        yield


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/params/{item_id:int}", params),
        Route("/api/authors/{author_id:int}/", get_author),
        Route("/api/authors/", create_author, methods=["POST"]),
        Route("/api/books/", list_books),
        Route("/openapi.json", openapi, include_in_schema=False),
    ],
    lifespan=lifespan,
)
