"""ETags on reads (If-None-Match -> 304) and lost-update protection (If-Match -> 412)."""

from __future__ import annotations

from typing import Any

from rest_models import Book, user_header

from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries

ANN = user_header(id=7)


async def test_retrieve_etag_and_not_modified(client: AppClient, library: dict[str, Any]) -> None:
    book = library["books"][2]
    first = await client.get(f"/api/books/{book.id}/")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    again = await client.get(f"/api/books/{book.id}/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    await Book.objects.filter(id=book.id).update(pages=999)
    changed = await client.get(f"/api/books/{book.id}/", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_list_etag(client: AppClient, library: dict[str, Any]) -> None:
    first = await client.get("/api/books/?page_size=3")
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    again = await client.get("/api/books/?page_size=3", headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = await client.get("/api/books/?page_size=4", headers={"If-None-Match": etag})
    assert other.status_code == 200


async def test_if_match_protects_against_lost_updates(
    client: AppClient, library: dict[str, Any]
) -> None:
    book = library["books"][1]
    etag = (await client.get(f"/api/books/{book.id}/")).headers["etag"]
    # Someone else changes the book meanwhile.
    await Book.objects.filter(id=book.id).update(title="Changed elsewhere")
    stale = await client.patch(
        f"/api/books/{book.id}/", json={"pages": 77}, headers={**ANN, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert "changed since you read it" in stale.json()["detail"]
    assert (await Book.objects.get(id=book.id)).pages != 77
    fresh_etag = (await client.get(f"/api/books/{book.id}/")).headers["etag"]
    # get_object, the row re-read FOR UPDATE in the write transaction, UPDATE, reload.
    async with assert_num_queries(4) as queries:
        ok = await client.patch(
            f"/api/books/{book.id}/", json={"pages": 77}, headers={**ANN, "If-Match": fresh_etag}
        )
    assert any("FOR UPDATE" in q.sql for q in queries)
    assert ok.status_code == 200
    assert ok.headers["etag"] != fresh_etag
    refused_delete = await client.delete(
        f"/api/books/{book.id}/", headers={**ANN, "If-Match": fresh_etag}
    )
    assert refused_delete.status_code == 412
    deleted = await client.delete(
        f"/api/books/{book.id}/", headers={**ANN, "If-Match": ok.headers["etag"]}
    )
    assert deleted.status_code == 204
