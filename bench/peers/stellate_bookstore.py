"""Stellate serving the benchmark bookstore (workspace interpreter).

The bookstore example's models, serializers and pagination (``examples/bookstore``)
with the plugins it runs in production (orm, rest, auth, tasks), plus the routes the
suite compares: ``GET /`` (plain JSON), ``GET /params/{item_id}`` (path parameter
and validated query), ``/api/authors/`` (get by pk, create with body validation),
``GET /api/books/`` (cursor page of 20, author and publisher joined, tags prefetched)
and ``/openapi.json``. Reads and author writes are open to anonymous clients, as in
the peers (which have no authentication).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from examples.bookstore.api import AuthorViewSet, BookViewSet
from stellate.core import App, HTTPException, Request
from stellate.rest import AllowAny, Router, mount_openapi


class Params(msgspec.Struct):
    """The validated query of ``GET /params/{item_id}``."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


class OpenAuthorViewSet(AuthorViewSet):
    permission_classes = (AllowAny,)


def create_app() -> App:
    """The app; services come from ``STELLATE_DATABASE_URL`` / ``STELLATE_REDIS_URL``."""
    app = App(plugins=["orm", "rest", "auth", "tasks"])

    @app.get("/")
    async def hello(request: Request) -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/params/{item_id:int}")
    async def params(request: Request, item_id: int) -> dict[str, object]:
        try:
            query = msgspec.convert(dict(request.query_params), Params, strict=False)
        except msgspec.ValidationError as exc:
            raise HTTPException(400, f"Invalid query: {exc}") from None
        return {"item_id": item_id, "q": query.q, "limit": query.limit}

    router = Router()
    router.register("authors", OpenAuthorViewSet)
    router.register("books", BookViewSet)
    app.include(router, prefix="/api")
    mount_openapi(app, title="Bench bookstore", version="1.0.0")
    return app


app = create_app()
