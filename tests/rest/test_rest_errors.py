"""The problem+json error shape, from views and (with the plugin) from plain handlers."""

from __future__ import annotations

from typing import Any

from rest_models import Item

from stellate.core import App, HTTPException, Request
from stellate.core.testing import AppClient, PluginContract
from stellate.rest import (
    AllowAny,
    APIView,
    Conflict,
    NotFound,
    RestPlugin,
    Throttled,
    ValidationError,
)


class TestRestPluginContract(PluginContract):
    plugin_class = RestPlugin
    requires = ("orm",)


async def test_orm_errors_in_plain_handlers_become_problems(client: AppClient, tables: Any) -> None:
    created = await client.post("/api/items/", json={"name": "lamp"})
    assert created.status_code == 200
    invalid = await client.post("/api/items/", json={"name": ""})
    assert invalid.status_code == 400
    assert invalid.json()["detail"] == "Invalid data for `Item`"
    assert invalid.json()["errors"] == {"name": ["must have at least 1 characters/items"]}
    assert await Item.objects.count() == 1
    # Last: outside a viewset no savepoint guards the test transaction.
    duplicate = await client.post("/api/items/", json={"name": "lamp"})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["constraint"] == "rest_items_name_key"
    assert duplicate.json()["errors"] == {"name": ["A row with this `name` already exists"]}


class Probe(APIView):
    permission_classes = (AllowAny,)

    async def get(self, request: Request) -> Any:
        kind = request.query("kind")
        if kind == "validation":
            raise ValidationError("Invalid data", errors={"field": ["error msg"]})
        if kind == "missing":
            raise NotFound("Book not found")
        if kind == "http":
            raise HTTPException(404, "Not found")
        if kind == "dict-detail":
            raise HTTPException(422, {"why": "structured"})
        if kind == "throttled":
            raise Throttled(wait=2.2)
        if kind == "conflict":
            raise Conflict()
        return {"ok": True}


async def test_reference_exception_samples() -> None:
    app = App(plugins=["orm", "rest"])
    app.include([Probe.as_route("/probe")])
    async with AppClient(app) as client:
        ok = await client.get("/probe")
        assert ok.json() == {"ok": True}
        validation = await client.get("/probe?kind=validation")
        assert validation.status_code == 400
        assert validation.json() == {
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "Invalid data",
            "code": "invalid",
            "errors": {"field": ["error msg"]},
        }
        missing = await client.get("/probe?kind=missing")
        assert (missing.status_code, missing.json()["detail"]) == (404, "Book not found")
        http = await client.get("/probe?kind=http")
        assert http.status_code == 404
        assert http.headers["content-type"] == "application/problem+json"
        assert http.json()["detail"] == "Not found"
        structured = await client.get("/probe?kind=dict-detail")
        assert structured.json()["detail"] == {"why": "structured"}
        throttled = await client.get("/probe?kind=throttled")
        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "3"
        assert throttled.json()["detail"] == "Request was throttled: try again in 3 seconds."
        conflict = await client.get("/probe?kind=conflict")
        assert conflict.status_code == 409
        not_allowed = await client.post("/probe")
        assert not_allowed.status_code == 405
        assert not_allowed.headers["allow"] == "GET, HEAD"
        assert not_allowed.headers["content-type"] == "application/problem+json"
        unknown = await client.get("/nowhere")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["detail"] == "Not Found"


def test_exports_are_complete_and_sorted() -> None:
    import stellate.rest as rest

    assert rest.__all__ == sorted(rest.__all__)
    public = {
        name
        for name, value in vars(rest).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("stellate.rest")
    }
    assert public <= set(rest.__all__)


class Closed(APIView):
    www_authenticate = 'Bearer realm="api"'

    async def get(self, request: Request) -> dict[str, bool]:
        return {"secret": True}


async def test_views_require_authentication_by_default() -> None:
    app = App(plugins=["orm", "rest"])
    app.include([Closed.as_route("/closed")])
    async with AppClient(app) as client:
        response = await client.get("/closed")
        assert response.status_code == 401
        assert response.json()["detail"] == "Authentication credentials were not provided."
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
