"""Responses conform to the schemas the OpenAPI document is generated from.

Each response body is decoded by msgspec against the serializer's read Struct (the
same type ``msgspec.json.schema_components`` turns into the document's schema), with
unknown keys forbidden, so a response that drifts from its documented shape fails.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from rest_api import BookDetailSerializer, BookSerializer
from rest_models import user_header

from stellate.core.testing import AppClient
from stellate.rest.serializers import ModelSerializer


def strict(serializer: type[ModelSerializer[Any]]) -> Any:
    read = serializer.compiled().read_struct()
    fields = [(f.name, f.type) for f in msgspec.structs.fields(read)]
    # Nested structs are checked through their own (already strict) definitions.
    return msgspec.defstruct(read.__name__, fields, forbid_unknown_fields=True, kw_only=True)


def page_of(item: Any) -> Any:
    return msgspec.defstruct(
        "Page",
        [("results", list[item]), ("next", str | None), ("previous", str | None)],
        forbid_unknown_fields=True,
    )


async def test_responses_match_their_documented_types(
    client: AppClient, library: dict[str, Any]
) -> None:
    book_type = strict(BookSerializer)
    detail_type = strict(BookDetailSerializer)
    listing = await client.get("/api/books/?page_size=5")
    page = msgspec.json.decode(listing.content, type=page_of(book_type))
    assert len(page.results) == 5
    book = library["books"][0]
    detail = await client.get(f"/api/books/{book.id}/")
    decoded = msgspec.json.decode(detail.content, type=detail_type)
    assert len(decoded.reviews) == 3
    created = await client.post(
        "/api/books/",
        json={
            "title": "Dune",
            "isbn": "9780441172719",
            "price": "9.99",
            "author_id": library["authors"][0].id,
        },
        headers=user_header(id=3),
    )
    assert created.status_code == 201
    msgspec.json.decode(created.content, type=book_type)
    # A drifted body is caught: an undocumented member fails the strict decode.
    drifted = created.json() | {"extra": 1}
    with pytest.raises(msgspec.ValidationError, match="extra"):
        msgspec.convert(drifted, book_type, strict=False)
