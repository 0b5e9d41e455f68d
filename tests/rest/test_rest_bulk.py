"""Bulk create/update/delete at /<prefix>/bulk/ with one result per item."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from rest_models import Review

from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries
from stellate.rest import (
    AllowAny,
    BulkCreateModelMixin,
    BulkDestroyModelMixin,
    BulkUpdateModelMixin,
    ModelViewSet,
    Router,
)
from stellate.rest.openapi import OpenAPI


class BulkReviews(BulkCreateModelMixin, BulkUpdateModelMixin, BulkDestroyModelMixin, ModelViewSet):
    model = Review
    bulk_max_items = 5
    permission_classes = (AllowAny,)


def make_app() -> App:
    router = Router()
    router.register("reviews", BulkReviews)
    app = App(plugins=["orm", "rest"])
    app.include(router, prefix="/b")
    return app


async def test_bulk_create_reports_each_item(library: dict[str, Any]) -> None:
    book = library["books"][1]
    async with AppClient(make_app()) as client:
        response = await client.post(
            "/b/reviews/bulk/",
            json=[
                {"book_id": book.id, "rating": 5},
                {"book_id": book.id, "rating": 9},
                "nope",
                {"book_id": 987654, "rating": 3},
                {"book_id": book.id, "rating": 2, "body": "meh"},
            ],
        )
        assert response.status_code == 207
        results = response.json()["results"]
        assert [r["status"] for r in results] == [201, 400, 400, 409, 201]
        assert "<= 5" in results[1]["errors"]["rating"][0]
        assert results[2]["errors"] == {"non_field_errors": ["Send an object"]}
        assert "rest_reviews_book_id_fkey" in results[3]["detail"]
        assert results[4]["data"]["body"] == "meh"
        # The failed items rolled back alone (savepoints); the others are stored.
        assert sorted(r.rating for r in await Review.objects.filter(book_id=book.id)) == [2, 5]
        all_ok = await client.post("/b/reviews/bulk/", json=[{"book_id": book.id, "rating": 1}])
        assert all_ok.status_code == 201
        none_ok = await client.post("/b/reviews/bulk/", json=[{"rating": 1}])
        assert none_ok.status_code == 400
        too_many = await client.post("/b/reviews/bulk/", json=[{}] * 6)
        assert too_many.status_code == 400
        assert too_many.json()["detail"] == "Too many items: 6 sent, at most 5 per request"
        not_array = await client.post("/b/reviews/bulk/", json={"book_id": book.id})
        assert not_array.status_code == 400


async def test_bulk_update_and_destroy(library: dict[str, Any]) -> None:
    reviews = await Review.objects.order_by("id")
    first, second, third = reviews
    async with AppClient(make_app()) as client:
        async with assert_num_queries(3):  # one SELECT for all, two UPDATEs
            response = await client.patch(
                "/b/reviews/bulk/",
                json=[
                    {"id": first.id, "rating": 1},
                    {"id": second.id, "body": "edited"},
                    {"id": 424242, "rating": 1},
                    {"rating": 2},
                    {"id": third.id, "rating": 0},
                ],
            )
        assert response.status_code == 207
        statuses = [r["status"] for r in response.json()["results"]]
        assert statuses == [200, 200, 404, 400, 400]
        assert (await Review.objects.get(id=first.id)).rating == 1
        assert (await Review.objects.get(id=second.id)).body == "edited"
        assert (await Review.objects.get(id=third.id)).rating == 3
        deleted = await client.request(
            "DELETE", "/b/reviews/bulk/", json={"ids": [first.id, 424242, "x"]}
        )
        assert deleted.status_code == 207
        assert [r["status"] for r in deleted.json()["results"]] == [204, 404, 400]
        assert await Review.objects.filter(id=first.id).count() == 0
        bad = await client.request("DELETE", "/b/reviews/bulk/", json={"keys": [1]})
        assert bad.status_code == 400


def test_bulk_endpoints_are_in_the_openapi_document() -> None:
    document = OpenAPI(make_app()).document()
    validate(document)
    bulk = document["paths"]["/b/reviews/bulk/"]
    assert set(bulk) == {"post", "patch", "delete"}
    assert set(bulk["post"]["responses"]) == {"201", "207", "400"}
