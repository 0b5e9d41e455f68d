"""The README's Python samples run as written (with the test models as their models)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from rest_models import Author, Book, Item, PrincipalFromHeader, Review, user_header

from stellate.core.testing import AppClient

README = Path(__file__).resolve().parents[2] / "packages" / "rest" / "README.md"


def samples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(code: str, namespace: dict[str, Any]) -> None:
    exec(compile(code, str(README), "exec"), namespace)


async def test_readme_samples_run(library: dict[str, Any]) -> None:
    blocks = samples()
    assert len(blocks) == 4
    namespace: dict[str, Any] = {"Author": Author, "Book": Book, "Review": Review, "Item": Item}

    run(blocks[0], namespace)  # serializers, viewset, router, app, OpenAPI
    app = namespace["app"]
    app.use(PrincipalFromHeader)
    author = library["authors"][0]
    async with AppClient(app) as client:
        listing = await client.get("/api/books/?price__gte=3&ordering=-price")
        assert listing.status_code == 200
        assert all(float(b["price"]) >= 3 for b in listing.json()["results"])
        assert listing.json()["results"][0]["author"]["name"]
        body = {"title": "Dune", "isbn": "9780441172719", "price": "9.99", "author_id": author.id}
        assert (await client.post("/api/books/", json=body)).status_code == 401
        created = await client.post("/api/books/", json=body, headers=user_header(id=5))
        assert created.status_code == 201
        assert created.json()["owner_id"] == 5
        spaced = await client.post(
            "/api/books/", json={**body, "title": " x"}, headers=user_header(id=5)
        )
        assert spaced.json()["errors"] == {"title": ["Title may not start or end with spaces"]}
        document = (await client.get("/openapi.json")).json()
        validate(document)
        assert document["info"] == {"title": "Bookstore", "version": "1.0.0"}
        assert (await client.get("/docs")).status_code == 200

    run(blocks[1], namespace)  # cursor pagination, standalone paginator
    async with AppClient(namespace["app"]) as client:
        for number in range(3):
            await Item.objects.create(name=f"i{number}")
        items = (await client.get("/api/items/")).json()
        assert [i["name"] for i in items["results"]] == ["i2", "i1", "i0"]
    assert namespace["ReviewViewSet"].pagination_class.page_size == 20

    run(blocks[2], namespace)  # access policy (its own assert runs)
    run(blocks[3], namespace)  # throttles
    assert namespace["BurstThrottle"].rate == "100/min"
