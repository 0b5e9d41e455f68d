"""The hand-written peer: Starlette + asyncpg + msgspec serving the bookstore list.

``GET /api/books/`` runs the two statements the bookstore's ``BookViewSet.list``
sends (the page of books with author and publisher joined, then the page's tags), in
the same order, and returns the same JSON: ``{"results", "next", "previous"}`` with
an HMAC-signed cursor, which it also accepts back (``?cursor=``). ``GET
/openapi.json`` serves the bytes of the file named by ``BENCH_OPENAPI_FILE`` (the
bookstore's own document, fetched by the benchmark) from memory: the floor for a
static document. ``GET /`` answers ``{"hello": "world"}`` with Starlette's
``JSONResponse`` (the bare-Starlette baseline of plain JSON, and the harness's
start-up probe). For ``python -m bench suite`` it also serves ``GET
/params/{item_id}`` (query validated by a msgspec Struct, 400 when invalid),
``GET /api/authors/{id}/`` and ``POST /api/authors/`` (body validated by a msgspec
Struct, 400 when invalid).

Environment: ``STELLATE_DATABASE_URL``, ``STELLATE_SECRET_KEY``,
``BENCH_OPENAPI_FILE``; the pool has the size of Stellate's default (twice the CPU
count, one connection opened at start).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_COLUMNS = (
    '"bookstore_books"."id", "bookstore_books"."title", "bookstore_books"."isbn", '
    '"bookstore_books"."price", "bookstore_books"."pages", "bookstore_books"."author_id", '
    '"bookstore_books"."publisher_id", "bookstore_books"."category_id", '
    '"bookstore_books"."rating", "bookstore_books"."review_count", '
    '"bookstore_books"."created_at", "t1"."id", "t1"."name", "t1"."bio", "t2"."id", '
    '"t2"."name", "t2"."country"'
)
_FROM = (
    'FROM "bookstore_books" '
    'LEFT JOIN "bookstore_authors" AS "t1" ON "t1"."id" = "bookstore_books"."author_id" '
    'LEFT JOIN "bookstore_publishers" AS "t2" ON "t2"."id" = "bookstore_books"."publisher_id"'
)
#: The statements Stellate's ORM sends for the first page and the pages after a cursor.
FIRST_PAGE_SQL = f'SELECT {_COLUMNS} {_FROM} ORDER BY "bookstore_books"."id" DESC LIMIT $1'
NEXT_PAGE_SQL = (
    f'SELECT {_COLUMNS} {_FROM} WHERE "bookstore_books"."id" < $1 '
    'ORDER BY "bookstore_books"."id" DESC LIMIT $2'
)
TAGS_SQL = (
    'SELECT j."book_id", t."id", t."name" FROM "bookstore_tags" AS t '
    'JOIN "bookstore_books_tags" AS j ON j."tag_id" = t."id" '
    'WHERE j."book_id" = ANY($1) ORDER BY t."id"'
)
PAGE_SIZE = 20
CURSOR_TTL = 3600.0

AUTHOR_SQL = 'SELECT "id", "name", "bio" FROM "bookstore_authors" WHERE "id" = $1'
INSERT_AUTHOR_SQL = (
    'INSERT INTO "bookstore_authors" ("name", "bio") VALUES ($1, $2) RETURNING "id", "name", "bio"'
)

_encoder = msgspec.json.Encoder(decimal_format="string")


class Params(msgspec.Struct):
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class AuthorIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    bio: Annotated[str, msgspec.Meta(max_length=2000)] = ""


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status_code=status, media_type="application/json")


def _sign(key: bytes, payload: bytes) -> str:
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def _unsign(key: bytes, token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    payload, mac = raw[:-16], raw[-16:]
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()[:16]):
        return None
    data: dict[str, Any] = msgspec.json.decode(payload)
    return data if data.get("e", 0) > time.time() else None


def _book(row: asyncpg.Record, tags: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row[0],
        "title": row[1],
        "isbn": row[2],
        "price": row[3],
        "pages": row[4],
        "author_id": row[5],
        "author": {"id": row[11], "name": row[12]},
        "publisher_id": row[6],
        "publisher": {"id": row[14], "name": row[15], "country": row[16]},
        "category_id": row[7],
        "tags": tags,
        "rating": row[8],
        "review_count": row[9],
        "created_at": row[10],
    }


def create_app() -> Starlette:
    """The Starlette app; the pool opens in its lifespan."""
    state: dict[str, Any] = {}
    key = hashlib.sha256(os.environ["STELLATE_SECRET_KEY"].encode()).digest()
    openapi = Path(os.environ["BENCH_OPENAPI_FILE"]).read_bytes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        size = (os.cpu_count() or 1) * 2
        pool = await asyncpg.create_pool(
            os.environ["STELLATE_DATABASE_URL"], min_size=1, max_size=size
        )
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    async def books(request: Request) -> Response:
        token = request.query_params.get("cursor")
        pool: asyncpg.Pool = state["pool"]
        async with pool.acquire() as connection:
            if token:
                cursor = _unsign(key, token)
                if cursor is None or cursor.get("u") != request.url.path:
                    return Response(
                        b'{"detail":"Invalid cursor `cursor`: follow the `next` link"}',
                        status_code=400,
                        media_type="application/json",
                    )
                rows = await connection.fetch(NEXT_PAGE_SQL, cursor["v"], PAGE_SIZE + 1)
            else:
                rows = await connection.fetch(FIRST_PAGE_SQL, PAGE_SIZE + 1)
            rows = rows[:PAGE_SIZE] if (more := len(rows) > PAGE_SIZE) else rows
            tags: dict[int, list[dict[str, Any]]] = {row[0]: [] for row in rows}
            for book_id, tag_id, name in await connection.fetch(TAGS_SQL, list(tags)):
                tags[book_id].append({"id": tag_id, "name": name})
        next_link = None
        if more:
            payload = _encoder.encode(
                {"v": rows[-1][0], "u": request.url.path, "e": time.time() + CURSOR_TTL}
            )
            next_link = f"?cursor={_sign(key, payload)}"
        body = {
            "results": [_book(row, tags[row[0]]) for row in rows],
            "next": next_link,
            "previous": None,
        }
        return Response(_encoder.encode(body), media_type="application/json")

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def hello(request: Request) -> Response:
        # Bare Starlette's plain JSON route, as bench/apps/starlette_app.py.
        return JSONResponse({"hello": "world"})

    async def params(request: Request) -> Response:
        try:
            query = msgspec.convert(dict(request.query_params), Params, strict=False)
        except msgspec.ValidationError as exc:
            return _json({"detail": f"Invalid query: {exc}"}, 400)
        return _json(
            {"item_id": request.path_params["item_id"], "q": query.q, "limit": query.limit}
        )

    async def get_author(request: Request) -> Response:
        pool: asyncpg.Pool = state["pool"]
        row = await pool.fetchrow(AUTHOR_SQL, request.path_params["author_id"])
        if row is None:
            return _json({"detail": "Not found"}, 404)
        return _json({"id": row[0], "name": row[1], "bio": row[2]})

    async def create_author(request: Request) -> Response:
        try:
            body = msgspec.json.decode(await request.body(), type=AuthorIn)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _json({"detail": f"Invalid body: {exc}"}, 400)
        pool: asyncpg.Pool = state["pool"]
        row = await pool.fetchrow(INSERT_AUTHOR_SQL, body.name, body.bio)
        return _json({"id": row[0], "name": row[1], "bio": row[2]}, 201)

    return Starlette(
        routes=[
            Route("/", hello),
            Route("/params/{item_id:int}", params),
            Route("/api/authors/{author_id:int}/", get_author),
            Route("/api/authors/", create_author, methods=["POST"]),
            Route("/api/books/", books),
            Route("/openapi.json", openapi_json),
        ],
        lifespan=lifespan,
    )


app = create_app()
