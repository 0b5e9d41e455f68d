"""Edge cases of the query string and routing that must never be 500s."""

from __future__ import annotations

from typing import Any

from stellate.core.testing import AppClient


async def test_empty_in_filter_matches_nothing(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.get("/api/books/?author_id__in=")
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []


async def test_bad_in_filter_value_names_the_parameter(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.get("/api/books/?author_id__in=1,two")
    assert response.status_code == 400
    assert response.json()["errors"] == {"author_id__in": ["`two` is not a valid `int`"]}


async def test_head_and_options(client: AppClient, library: dict[str, Any]) -> None:
    head = await client.head("/api/books/")
    assert head.status_code == 200
    assert head.content == b""
    options = await client.options("/api/books/")
    assert options.status_code == 405
    assert options.headers["allow"] == "GET, HEAD, POST"


async def test_missing_trailing_slash_redirects(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.get("/api/books")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/books/")


async def test_patch_on_missing_object_is_404_before_body_checks(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.patch(
        "/api/books/999999/", content=b"{broken", headers={"X-Test-User": '{"id": 1}'}
    )
    assert response.status_code == 404


async def test_huge_page_number_and_search_terms(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.get("/api/publishers/?page=99999999999999999999")
    assert response.status_code == 400
    words = " ".join(f"w{n}" for n in range(50))
    response = await client.get("/api/books/", params={"search": words})
    assert response.status_code == 200


async def test_router_prefix_keeps_routes_flat(tables: Any) -> None:
    from rest_api import PublisherViewSet

    from stellate.core import App, Request
    from stellate.rest import Router

    router = Router(prefix="/api/v2")
    router.register("publishers", PublisherViewSet)
    app = App(plugins=["orm", "rest"])
    app.include(router)

    @app.get("/api/v2/health")
    async def health(request: Request) -> dict[str, bool]:
        return {"ok": True}

    async with AppClient(app) as client:
        assert (await client.get("/api/v2/publishers/")).status_code == 200
        assert (await client.get("/api/v2/health")).json() == {"ok": True}
    assert [route.path for route in router.routes] == [
        "/api/v2/publishers/",
        "/api/v2/publishers/{pk:int}/",
    ]
