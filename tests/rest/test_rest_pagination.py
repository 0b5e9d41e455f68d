"""Cursor and page-number pagination over HTTP: navigation, signed cursors, bad input."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
from rest_models import Item

from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries


def cursor_of(link: str) -> str:
    return parse_qs(link.lstrip("?"))["cursor"][0]


async def walk(client: AppClient, url: str) -> list[list[int]]:
    pages = []
    link: str | None = ""
    while link is not None:
        response = await client.get(url + (("&" + link.lstrip("?")) if link else ""))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        link = body["next"]
    return pages


async def test_forward_walk_covers_every_row_once(
    client: AppClient, library: dict[str, Any]
) -> None:
    pages = await walk(client, "/api/books/?page_size=7")
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    ids = [i for page in pages for i in page]
    assert ids == sorted((b.id for b in library["books"]), reverse=True)


async def test_previous_link_returns_the_same_page(
    client: AppClient, library: dict[str, Any]
) -> None:
    first = (await client.get("/api/books/?page_size=10")).json()
    second = (await client.get("/api/books/?page_size=10&" + first["next"][1:])).json()
    assert second["previous"] is not None
    back = (await client.get("/api/books/" + second["previous"])).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert back["previous"] is None
    assert back["next"] is not None
    # The links keep the other query parameters.
    assert "page_size=10" in second["previous"]


async def test_ordering_by_a_non_unique_field_pages_without_gaps(
    client: AppClient, library: dict[str, Any]
) -> None:
    # Prices repeat (7 distinct values over 25 books): the primary key breaks ties.
    pages = await walk(client, "/api/books/?ordering=-price&page_size=4")
    ids = [i for page in pages for i in page]
    expected = sorted(library["books"], key=lambda b: (-b.price, -b.id))
    assert ids == [b.id for b in expected]


async def test_cursor_page_is_one_query_at_any_depth(
    client: AppClient, library: dict[str, Any]
) -> None:
    first = (await client.get("/api/books/?page_size=5")).json()
    second = (await client.get("/api/books/?page_size=5&" + first["next"][1:])).json()
    async with assert_num_queries(1) as queries:
        response = await client.get("/api/books/?page_size=5&" + second["next"][1:])
    assert response.status_code == 200
    assert "OFFSET" not in queries[0].sql.upper()


async def test_tampered_cursor_is_400(client: AppClient, library: dict[str, Any]) -> None:
    first = (await client.get("/api/books/?page_size=5")).json()
    token = cursor_of(first["next"])
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = await client.get("/api/books/", params={"cursor": forged})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == "Invalid query parameter `cursor`"
    assert problem["errors"] == {
        "cursor": ["This cursor is invalid, tampered with or expired: restart from the first page"]
    }
    garbage = await client.get("/api/books/?cursor=not-a-cursor")
    assert garbage.status_code == 400


async def test_cursor_from_another_endpoint_or_ordering_is_400(
    client: AppClient, library: dict[str, Any]
) -> None:
    books = (await client.get("/api/books/?page_size=5")).json()
    token = cursor_of(books["next"])
    other = await client.get("/api/books/enriched/", params={"cursor": token})
    assert other.status_code == 400
    assert "another endpoint" in other.json()["errors"]["cursor"][0]
    reordered = await client.get("/api/books/", params={"cursor": token, "ordering": "price"})
    assert reordered.status_code == 400
    assert "another ordering" in reordered.json()["errors"]["cursor"][0]


async def test_page_size_is_checked_and_capped(client: AppClient, library: dict[str, Any]) -> None:
    for bad in ("0", "-2", "ten"):
        response = await client.get(f"/api/books/?page_size={bad}")
        assert response.status_code == 400
        assert response.json()["errors"] == {"page_size": [f"`{bad}` is not a positive integer"]}
    capped = await client.get("/api/reviews/?page_size=5000")
    assert capped.status_code == 200


async def test_standalone_paginator_sample(client: AppClient, tables: Any) -> None:
    for number in range(60):
        await Item.objects.create(name=f"item-{number}")
    first = await client.get("/api/items/")
    body = first.json()
    assert len(body["results"]) == 50
    assert body["results"][0]["name"] == "item-59"
    assert body["next"].startswith("?cursor=")
    rest = (await client.get("/api/items/" + body["next"])).json()
    assert [r["name"] for r in rest["results"]] == [f"item-{n}" for n in range(9, -1, -1)]
    assert rest["next"] is None


async def test_empty_collection(client: AppClient, tables: Any) -> None:
    response = await client.get("/api/items/")
    assert response.json() == {"results": [], "next": None, "previous": None}


async def test_page_number_pagination(client: AppClient, library: dict[str, Any]) -> None:
    for name in ("East", "West", "Mid"):
        from rest_models import Publisher

        await Publisher.objects.create(name=name)
    async with assert_num_queries(2):  # COUNT, then the page
        first = (await client.get("/api/publishers/")).json()
    assert first["count"] == 5
    assert [p["name"] for p in first["results"]] == ["East", "Mid"]
    assert first["previous"] is None
    assert first["next"] == "?page=2"
    last = (await client.get("/api/publishers/?page=3")).json()
    assert [p["name"] for p in last["results"]] == ["West"]
    assert last["next"] is None
    assert last["previous"] == "?page=2"
    beyond = await client.get("/api/publishers/?page=4")
    assert beyond.status_code == 404
    bad = await client.get("/api/publishers/?page=first")
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"page": ["`first` is not a positive integer"]}


def expected_order(books: list[Any], ordering: str) -> list[int]:
    keyed = list(books)
    # Stable sorts from the last key to the first, the primary key (same direction as
    # the last key) breaking ties.
    parts = ordering.split(",")
    keyed.sort(key=lambda b: b.id, reverse=parts[-1].startswith("-"))
    for part in reversed(parts):
        name = part.lstrip("-")
        keyed.sort(key=lambda b, n=name: getattr(b, n), reverse=part.startswith("-"))
    return [b.id for b in keyed]


@pytest.mark.parametrize("ordering", ["price", "-price", "price,-title", "-created_at", "title"])
@pytest.mark.parametrize("size", [3, 7])
async def test_walk_forward_and_back_in_any_allowed_ordering(
    client: AppClient, library: dict[str, Any], ordering: str, size: int
) -> None:
    expected = expected_order(library["books"], ordering)
    url = f"/api/books/?ordering={ordering}&page_size={size}"
    forward: list[list[int]] = []
    body = (await client.get(url)).json()
    forward.append([r["id"] for r in body["results"]])
    while body["next"] is not None:
        body = (await client.get("/api/books/" + body["next"])).json()
        forward.append([r["id"] for r in body["results"]])
    assert [i for page in forward for i in page] == expected
    backward = [[r["id"] for r in body["results"]]]
    while body["previous"] is not None:
        body = (await client.get("/api/books/" + body["previous"])).json()
        backward.append([r["id"] for r in body["results"]])
    assert backward[::-1] == forward
