"""Filtering, search and ordering from the query string; bad parameters are 400s."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_models import Book

from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries
from stellate.rest.filters import normalize_filterset_fields


async def results(client: AppClient, url: str) -> list[dict[str, Any]]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["results"]
    return rows


async def test_range_filters(client: AppClient, library: dict[str, Any]) -> None:
    async with assert_num_queries(1):
        rows = await results(client, "/api/books/?price__gte=2&price__lte=3.5&page_size=100")
    expected = {b.id for b in library["books"] if Decimal(2) <= b.price <= Decimal("3.5")}
    assert {r["id"] for r in rows} == expected
    assert expected


async def test_exact_enum_and_in_filters(client: AppClient, library: dict[str, Any]) -> None:
    ann, bob, _ = library["authors"]
    rows = await results(client, f"/api/books/?author_id__in={ann.id},{bob.id}&page_size=100")
    assert {r["author_id"] for r in rows} == {ann.id, bob.id}
    assert len(rows) == 17
    rows = await results(client, f"/api/books/?author_id={bob.id}&page_size=100")
    assert len(rows) == 8
    assert await results(client, "/api/books/?format=ebook") == []
    assert len(await results(client, "/api/books/?format=paperback&page_size=100")) == 25


async def test_wrong_filter_values_are_400_naming_each_parameter(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.get("/api/books/?price__gte=cheap&author_id=x&format=scroll")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["price__gte"] == ["`cheap` is not a valid `Decimal`"]
    assert errors["author_id"] == ["`x` is not a valid `int`"]
    assert errors["format"] == ["`scroll` is not a valid `Format`"]


async def test_integer_outside_the_column_range_is_400_not_500(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.get("/api/books/?author_id=99999999999&author_id__in=1,-99999999999")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["author_id"] == [
        "`99999999999` is out of range for `author_id` (-2147483648 to 2147483647)"
    ]
    assert errors["author_id__in"] == [
        "`-99999999999` is out of range for `author_id` (-2147483648 to 2147483647)"
    ]


async def test_parameters_that_are_not_allowed_are_ignored(
    client: AppClient, library: dict[str, Any]
) -> None:
    # `pages` is not in filterset_fields: a client cannot filter on it.
    rows = await results(client, "/api/books/?pages=50&page_size=100")
    assert len(rows) == 25


async def test_search_is_case_insensitive_and_literal(
    client: AppClient, library: dict[str, Any]
) -> None:
    # Every word must match (in any of the search fields).
    rows = await results(client, "/api/books/?search=BOOK%201")
    expected = [f"Book {n:02d}" for n in range(25) if "1" in f"{n:02d}"]
    assert sorted(r["title"] for r in rows) == expected
    assert await results(client, "/api/books/?search=%25") == []


async def test_ordering_allowlist(client: AppClient, library: dict[str, Any]) -> None:
    rows = await results(client, "/api/books/?ordering=title&page_size=3")
    assert [r["title"] for r in rows] == ["Book 00", "Book 01", "Book 02"]
    response = await client.get("/api/books/?ordering=-isbn,colour")
    assert response.status_code == 400
    problem = response.json()
    assert problem["detail"] == "Invalid query parameter `ordering`"
    allowed = "`price`, `title`, `created_at`"
    assert problem["errors"] == {
        "ordering": [
            f"Cannot order by `isbn`; allowed fields: {allowed}",
            f"Cannot order by `colour`; allowed fields: {allowed}",
        ]
    }


def test_filterset_configuration_errors_name_the_problem() -> None:
    with pytest.raises(TypeError, match=r"names `titel`, which is not a field of `Book`"):
        normalize_filterset_fields(Book, ["titel"], "BookViewSet")
    with pytest.raises(TypeError, match=r"allows the unknown lookup `near`"):
        normalize_filterset_fields(Book, {"price": ["near"]}, "BookViewSet")


async def test_nul_in_search_or_filter_is_400(client: AppClient, library: dict[str, Any]) -> None:
    search = await client.get("/api/books/?search=a%00b")
    assert search.status_code == 400
    assert "NUL" in search.json()["errors"]["search"][0]
    filtered = await client.get("/api/books/?author_id=1%00")
    assert filtered.status_code == 400
    assert "NUL" in filtered.json()["errors"]["author_id"][0]
