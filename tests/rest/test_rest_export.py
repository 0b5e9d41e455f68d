"""ServerCursorPagination: a DECLARE CURSOR export streamed as NDJSON over HTTP."""

from __future__ import annotations

import json
from typing import Any

from rest_models import Item

from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import get_db
from stellate.orm.testing import assert_num_queries
from stellate.rest import AllowAny, ReadOnlyModelViewSet, Router, ServerCursorPagination


class Export(ServerCursorPagination):
    chunk_size = 400


class ItemExport(ReadOnlyModelViewSet):
    model = Item
    pagination_class = Export
    permission_classes = (AllowAny,)
    filterset_fields = ("name",)
    ordering = "-id"


async def test_export_streams_every_row_in_chunks(tables: Any) -> None:
    await get_db().execute(
        "INSERT INTO rest_items (name) SELECT 'item-' || n FROM generate_series(1, 1000) n"
    )
    router = Router()
    router.register("items", ItemExport)
    app = App(plugins=["orm", "rest"])
    app.include(router, prefix="/export")
    async with AppClient(app) as client:
        async with assert_num_queries(6) as queries:  # DECLARE, 4 FETCH, CLOSE
            response = await client.get("/export/items/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.text.splitlines()
        assert len(lines) == 1000
        first = json.loads(lines[0])
        assert first["name"] == "item-1000"
        assert set(first) == {"id", "name"}
        statements = [q.sql for q in queries if q.kind == "query"]
        assert statements[0].startswith("DECLARE stellate_export NO SCROLL CURSOR FOR SELECT")
        assert statements[1:] == ["FETCH 400 FROM stellate_export"] * 4 + ["CLOSE stellate_export"]
        filtered = await client.get("/export/items/?name=item-7")
        assert [json.loads(line)["name"] for line in filtered.text.splitlines()] == ["item-7"]
    assert await Item.objects.count() == 1000


def test_export_is_described_as_ndjson() -> None:
    from openapi_spec_validator import validate

    from stellate.rest.openapi import OpenAPI

    router = Router()
    router.register("items", ItemExport)
    app = App(plugins=["orm", "rest"])
    app.include(router, prefix="/export")
    document = OpenAPI(app).document()
    validate(document)
    listing = document["paths"]["/export/items/"]["get"]["responses"]["200"]
    assert listing["content"] == {
        "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Item"}}
    }
