"""OpenAPI 3.1 document: valid, complete for the test API, cached; the offline docs page."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from rest_api import make_app

from stellate.core.testing import AppClient
from stellate.rest.openapi import mount_openapi


async def test_document_is_valid_and_describes_the_api(tables: Any) -> None:
    app = make_app()
    openapi = mount_openapi(app, title="Test API", version="2.0.0")
    async with AppClient(app) as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        document = response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Test API", "version": "2.0.0"}
    paths = document["paths"]
    assert set(paths["/api/books/"]) == {"get", "post"}
    assert set(paths["/api/books/{pk}/"]) == {"get", "put", "patch", "delete"}
    assert "/api/books/enriched/" in paths
    assert "/api/books/{pk}/publish/" in paths
    listing = paths["/api/books/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert names == {
        "cursor",
        "page_size",
        "price__gte",
        "price__lte",
        "format",
        "format__exact",
        "author_id",
        "author_id__exact",
        "author_id__in",
        "search",
        "ordering",
    }
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["results"]["items"] == {"$ref": "#/components/schemas/Book"}
    create = paths["/api/books/"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/BookInput"}
    assert set(create["responses"]) == {"201", "400", "401", "403", "409"}
    problem = create["responses"]["400"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    detail = paths["/api/books/{pk}/"]
    assert detail["get"]["parameters"][0]["schema"] == {"type": "integer"}
    retrieve = detail["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert retrieve == {"$ref": "#/components/schemas/BookDetail"}
    patch = detail["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch == {"$ref": "#/components/schemas/BookPatch"}
    schemas = document["components"]["schemas"]
    book_input = schemas["BookInput"]
    assert set(book_input["required"]) == {"title", "isbn", "price", "author_id"}
    assert book_input["properties"]["title"]["maxLength"] == 100
    assert "owner_id" not in book_input["properties"]
    assert not schemas["BookPatch"].get("required")
    assert schemas["BookDetail"]["properties"]["reviews"]["items"] == {
        "$ref": "#/components/schemas/ReviewSummary"
    }
    assert set(schemas["Review"]["properties"]) == {"id", "book_id", "rating", "body"}
    # The derived serializer of a model-only viewset never exposes the secret field.
    assert "password" not in schemas["Account"]["properties"]
    assert "password" not in schemas["AccountInput"]["properties"]
    # Page-number envelope and plain handlers.
    publishers = paths["/api/publishers/"]["get"]["responses"]["200"]
    envelope = publishers["content"]["application/json"]["schema"]
    assert envelope["required"] == ["count", "results", "next", "previous"]
    assert "get" in paths["/api/items/"]
    assert openapi.document() is openapi.document()


async def test_security_schemes(tables: Any) -> None:
    schemes = {"session": {"type": "apiKey", "in": "cookie", "name": "stellate_session"}}
    openapi = mount_openapi(make_app(), security_schemes=schemes)
    document = openapi.document()
    validate(document)
    assert document["components"]["securitySchemes"] == schemes
    assert document["paths"]["/api/books/"]["post"]["security"] == [{"session": []}, {}]
    assert "security" not in document["paths"]["/api/publishers/"]["get"]


async def test_document_bytes_are_cached_until_invalidated(tables: Any) -> None:
    app = make_app()
    openapi = mount_openapi(app)
    first = openapi.document_bytes()
    assert openapi.document_bytes() is first
    openapi.invalidate()
    second = openapi.document_bytes()
    assert second is not first
    assert second == first


async def test_docs_page_is_served_offline(tables: Any) -> None:
    app = make_app()
    mount_openapi(app, title="Docs <test>")
    async with AppClient(app) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "Docs &lt;test&gt;" in page.text
        assert "https://" not in page.text  # nothing from a CDN
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert len(script.content) > 100_000
        css = await client.get("/docs/assets/swagger-ui.css")
        assert css.status_code == 200


async def test_clashing_schema_names_are_a_clear_error(tables: Any) -> None:
    import pytest

    from stellate.core import App
    from stellate.rest import ModelSerializer, ModelViewSet, Router

    class BookSerializer(ModelSerializer[Any]):
        class Meta:
            model = __import__("rest_models").Book
            fields = ("id", "title")

    class OtherBookSerializer(ModelSerializer[Any]):
        class Meta:
            model = __import__("rest_models").Book
            fields = ("id",)
            schema_name = "Book"

    class First(ModelViewSet):
        serializer_class = BookSerializer

    class Second(ModelViewSet):
        serializer_class = OtherBookSerializer

    First.model = Second.model = BookSerializer.Meta.model
    router = Router()
    router.register("first", First)
    router.register("second", Second)
    app = App(plugins=["orm", "rest"])
    app.include(router)
    openapi = mount_openapi(app)
    with pytest.raises(TypeError, match=r"both produce the OpenAPI schema `Book`"):
        openapi.document()
