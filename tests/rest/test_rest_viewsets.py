"""ModelViewSet over real HTTP: CRUD, nested output, hooks, actions and query counts."""

from __future__ import annotations

from typing import Any

from rest_models import Account, Book, Review, user_header

from stellate.core.testing import AppClient
from stellate.orm.testing import assert_num_queries

ANN = user_header(id=7)
STAFF = user_header(id=9, is_staff=True)


def new_book(author_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "title": "Dune",
        "isbn": "9780441172719",
        "price": "9.99",
        "author_id": author_id,
        **changes,
    }


async def test_list_is_cursor_paginated_with_nested_author(
    client: AppClient, library: dict[str, Any]
) -> None:
    response = await client.get("/api/books/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert body["next"].startswith("?cursor=")
    newest = body["results"][0]
    last_book = library["books"][-1]
    assert newest["id"] == last_book.id
    assert newest["author"] == {"id": last_book.author_id, "name": "Ann"}
    assert newest["price"] == "3.50"
    assert newest["format"] == "paperback"
    assert set(newest) == {
        "id",
        "title",
        "isbn",
        "price",
        "pages",
        "format",
        "author_id",
        "author",
        "owner_id",
        "created_at",
    }


async def test_list_runs_one_query_whatever_the_page_size(
    client: AppClient, library: dict[str, Any]
) -> None:
    for size in (1, 5, 20):
        async with assert_num_queries(1):
            response = await client.get(f"/api/books/?page_size={size}")
        assert len(response.json()["results"]) == size


async def test_list_with_nested_many_is_two_queries_at_any_page_size(
    client: AppClient, library: dict[str, Any]
) -> None:
    for size in (1, 10, 25):
        async with assert_num_queries(2):  # the page (joined, annotated), the reviews
            response = await client.get(f"/api/books/?expand=reviews&page_size={size}")
        rows = response.json()["results"]
        assert len(rows) == size
    by_id = {row["id"]: row for row in rows}
    first = by_id[library["books"][0].id]
    assert first["review_count"] == 3
    assert len(first["reviews"]) == 3
    assert all(row["reviews"] == [] for row in rows if row is not first)


async def test_retrieve_with_prefetched_reviews_runs_two_queries(
    client: AppClient, library: dict[str, Any]
) -> None:
    book = library["books"][0]
    async with assert_num_queries(2):
        response = await client.get(f"/api/books/{book.id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["author"]["name"] == "Ann"
    assert sorted(r["rating"] for r in body["reviews"]) == [3, 4, 5]
    assert body["review_count"] == 3
    assert set(body["reviews"][0]) == {"id", "rating", "body"}


async def test_missing_object_is_404_problem(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.get("/api/books/999999/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No `Book` with pk `999999`",
        "code": "not_found",
    }


async def test_pk_outside_the_column_range_is_404(client: AppClient, tables: Any) -> None:
    response = await client.get("/api/books/12201826704/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No `Book` with pk `12201826704`"


async def test_non_integer_pk_does_not_match_the_route(client: AppClient, tables: Any) -> None:
    response = await client.get("/api/books/abc/")
    assert response.status_code == 404


async def test_create_sets_owner_and_returns_201(
    client: AppClient, library: dict[str, Any]
) -> None:
    author = library["authors"][1]
    response = await client.post("/api/books/", json=new_book(author.id), headers=ANN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["owner_id"] == 7
    assert body["author"] == {"id": author.id, "name": "Bob"}
    stored = await Book.objects.get(id=body["id"])
    assert stored.title == "Dune"
    assert stored.owner_id == 7
    assert str(stored.price) == "9.99"


async def test_nul_in_a_text_field_is_400_naming_the_field_without_sql(
    client: AppClient, library: dict[str, Any]
) -> None:
    author = library["authors"][1]
    before = await Book.objects.count()
    response = await client.post(
        "/api/books/", json=new_book(author.id, title="Du\x00ne"), headers=ANN
    )
    assert response.status_code == 400, response.text
    assert "NUL characters" in response.json()["errors"]["title"][0]
    assert "INSERT" not in response.text
    assert await Book.objects.count() == before


async def test_write_requires_authentication(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.post("/api/books/", json=new_book(library["authors"][0].id))
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."
    assert await Book.objects.filter(title="Dune").count() == 0


async def test_body_errors_are_all_reported(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.post(
        "/api/books/",
        json={
            "title": "",
            "isbn": "12",
            "price": -1,
            "pages": "many",
            "format": "scroll",
            "owner_id": 3,
            "colour": "red",
        },
        headers=ANN,
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["detail"] == "Invalid data"
    errors = problem["errors"]
    assert set(errors) == {
        "title",
        "isbn",
        "price",
        "pages",
        "format",
        "author_id",
        "owner_id",
        "colour",
    }
    assert errors["author_id"] == ["This field is required"]
    assert errors["owner_id"] == ["This field is read-only"]
    assert errors["colour"][0].startswith("Unknown field `colour`; writable fields: `title`")
    assert "length >= 1" in errors["title"][0]
    assert ">= 0" in errors["price"][0]
    assert "Expected `int`, got `str`" in errors["pages"][0]
    assert errors["format"] == [
        "`scroll` is not one of the allowed values: `hardcover`, `paperback`, `ebook`"
    ]


async def test_validate_hooks_name_their_fields(client: AppClient, library: dict[str, Any]) -> None:
    author = library["authors"][0].id
    response = await client.post(
        "/api/books/",
        json=new_book(author, title=" Dune", format="hardcover", pages=20),
        headers=ANN,
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"title": ["Title may not start or end with spaces"]}
    response = await client.post(
        "/api/books/", json=new_book(author, format="hardcover", pages=20), headers=ANN
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"pages": ["A hardcover needs at least 48 pages"]}


async def test_malformed_and_non_object_bodies(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.post(
        "/api/books/", content=b"{not json", headers={**ANN, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON body")
    response = await client.post("/api/books/", json=[1, 2], headers=ANN)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "non_field_errors": ["Expected a JSON object with fields, got `list`"]
    }
    response = await client.post("/api/books/", content=b"", headers=ANN)
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


async def test_unique_violation_is_409_naming_the_constraint(
    client: AppClient, library: dict[str, Any]
) -> None:
    taken = library["books"][0].isbn
    response = await client.post(
        "/api/books/", json=new_book(library["authors"][0].id, isbn=taken), headers=ANN
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["constraint"] == "rest_books_isbn_key"
    assert problem["code"] == "unique"
    assert "rest_books_isbn_key" in problem["detail"]
    assert problem["errors"] == {"isbn": ["A row with this `isbn` already exists"]}
    # The write ran in a savepoint: the connection (here the test transaction) still works.
    assert await Book.objects.filter(isbn=taken).count() == 1


async def test_foreign_key_violation_is_409(client: AppClient, library: dict[str, Any]) -> None:
    response = await client.post("/api/books/", json=new_book(424242), headers=ANN)
    assert response.status_code == 409
    assert response.json()["code"] == "foreign_key"
    assert "rest_books_author_id_fkey" in response.json()["detail"]


async def test_partial_update_validates_only_sent_fields(
    client: AppClient, library: dict[str, Any]
) -> None:
    book = library["books"][3]
    response = await client.patch(f"/api/books/{book.id}/", json={"price": "1.25"}, headers=ANN)
    assert response.status_code == 200, response.text
    assert response.json()["price"] == "1.25"
    assert response.json()["title"] == book.title
    stored = await Book.objects.get(id=book.id)
    assert str(stored.price) == "1.25"
    response = await client.patch(f"/api/books/{book.id}/", json={"price": -3}, headers=ANN)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["price"]


async def test_put_needs_every_required_field(client: AppClient, library: dict[str, Any]) -> None:
    book = library["books"][4]
    response = await client.put(f"/api/books/{book.id}/", json={"title": "New"}, headers=ANN)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"isbn", "price", "author_id"}
    full = new_book(library["authors"][2].id, title="Renamed", isbn=book.isbn)
    response = await client.put(f"/api/books/{book.id}/", json=full, headers=ANN)
    assert response.status_code == 200
    assert response.json()["author"]["name"] == "Cy"
    assert (await Book.objects.get(id=book.id)).title == "Renamed"


async def test_destroy(client: AppClient, library: dict[str, Any]) -> None:
    book = library["books"][5]
    response = await client.delete(f"/api/books/{book.id}/", headers=ANN)
    assert response.status_code == 204
    assert response.content == b""
    assert await Book.objects.filter(id=book.id).count() == 0
    again = await client.delete(f"/api/books/{book.id}/", headers=ANN)
    assert again.status_code == 404


async def test_deleting_a_referenced_row_is_409(client: AppClient, library: dict[str, Any]) -> None:
    book = library["books"][0]  # has reviews
    response = await client.delete(f"/api/books/{book.id}/", headers=ANN)
    assert response.status_code == 409
    assert response.json()["constraint"] == "rest_reviews_book_id_fkey"


async def test_method_not_allowed_lists_allowed_methods(client: AppClient, tables: Any) -> None:
    response = await client.delete("/api/books/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert response.headers["content-type"] == "application/problem+json"


async def test_staff_only_action(client: AppClient, library: dict[str, Any]) -> None:
    book = library["books"][0]
    anonymous = await client.post(f"/api/books/{book.id}/publish/")
    assert anonymous.status_code == 401
    user = await client.post(f"/api/books/{book.id}/publish/", headers=ANN)
    assert user.status_code == 403
    assert user.json()["detail"] == "Staff access required."
    staff = await client.post(f"/api/books/{book.id}/publish/", headers=STAFF)
    assert staff.status_code == 200
    assert staff.json() == {"published": book.id}


async def test_http_exception_inside_a_viewset_is_rendered(
    client: AppClient, library: dict[str, Any]
) -> None:
    heavy = library["books"][-1]
    response = await client.post(f"/api/books/{heavy.id}/reserve/", headers=ANN)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"Book `{heavy.id}` is too heavy to reserve"
    light = library["books"][0]
    response = await client.post(f"/api/books/{light.id}/reserve/", headers=ANN)
    assert response.json() == {"reserved": light.id}


async def test_enriched_action_batches_with_a_dataloader(
    client: AppClient, library: dict[str, Any]
) -> None:
    async with assert_num_queries(2):  # the page, then one batched author query
        response = await client.get("/api/books/enriched/?page_size=10")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 10
    by_id = {a.id: a.name for a in library["authors"]}
    assert all(row["author_name"] == by_id[row["author_id"]] for row in rows)


async def test_model_only_viewset_derives_a_serializer(
    client: AppClient, library: dict[str, Any]
) -> None:
    book = library["books"][0]
    response = await client.post(
        "/api/reviews/", json={"book_id": book.id, "rating": 5, "body": "Great", "id": 99}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"id": ["This field is read-only"]}
    response = await client.post("/api/reviews/", json={"book_id": book.id, "rating": 6})
    assert response.status_code == 400
    assert "<= 5" in response.json()["errors"]["rating"][0]
    response = await client.post("/api/reviews/", json={"book_id": book.id, "rating": 4})
    assert response.status_code == 201
    assert response.json()["rating"] == 4
    assert await Review.objects.filter(book_id=book.id).count() == 4


async def test_secret_fields_are_never_output(client: AppClient, tables: Any) -> None:
    await Account.objects.create(email="a@x.io", password="$argon2id$v=19$hash")
    response = await client.get("/api/accounts/")
    assert response.status_code == 200
    (account,) = response.json()["results"]
    assert account == {"id": account["id"], "email": "a@x.io", "is_active": True}
    response = await client.post("/api/accounts/", json={"email": "b@x.io", "password": "x"})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
