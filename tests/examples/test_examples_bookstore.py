"""The bookstore example over real HTTP on real PostgreSQL and Redis.

Most tests build the app with ``create_app`` in the ``test`` environment (no seeding,
no migrations: the ``db`` fixture's transaction holds the tables and rolls them back).
The last test starts ``uvicorn examples.bookstore.app:app`` with no environment at all,
as the README tells a newcomer to, and walks through it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from examples.bookstore.app import create_app
from examples.bookstore.models import ALL_MODELS, Book, Category, Review
from examples.bookstore.seed import DEMO_PASSWORD, DEMO_USERNAME, seed_categories, seed_demo_data
from examples.bookstore.tasks import RECOMPUTE_RATING
from stellate.core import ImproperlyConfigured
from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.testing import assert_num_queries, create_tables
from stellate.tasks.outbox import OUTBOX_TABLE

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "violet tractor under the sea"
NEW_BOOK = {
    "title": "Gravity's Harp",
    "isbn": "9781111111111",
    "price": "14.00",
    "pages": 320,
}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """STELLATE_TEST_REDIS_URL, or an embedded Redis when it is unset."""
    url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from stellate.tasks.embedded import start_embedded_redis, stop_embedded_redis

    server, embedded_url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    yield embedded_url
    stop_embedded_redis(server)


@pytest.fixture
async def client(db: Database, redis_url: str) -> AsyncIterator[AppClient]:
    await create_tables(*ALL_MODELS)
    app = create_app(
        {
            "env": "test",
            "secret_key": "bookstore-tests-" + "s" * 40,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {
                "redis_url": redis_url,
                "tasks_prefix": f"bookstore-test-{uuid.uuid4().hex}:",
            },
        }
    )
    async with AppClient(app) as http:
        await http.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        yield http


@pytest.fixture
async def catalogue(client: AppClient) -> dict[str, Any]:
    """The demo catalogue (12 books, 3 reviews) written by a reviewer account."""
    reviewer = await client.app.auth.users.create_user(  # type: ignore[attr-defined]
        f"reviewer-{uuid.uuid4().hex[:6]}", PASSWORD
    )
    assert await seed_demo_data(reviewer.id) == 12
    books = await Book.objects.order_by("id").all()
    return {"reviewer": reviewer, "books": books}


async def login(client: AppClient, *, staff: bool) -> dict[str, str]:
    """Log a new user in; returns the headers of a CSRF-protected write."""
    username = f"{'staff' if staff else 'reader'}-{uuid.uuid4().hex[:6]}"
    await client.app.auth.users.create_user(username, PASSWORD, is_staff=staff)  # type: ignore[attr-defined]
    client.cookies.clear()
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def book_body(catalogue: dict[str, Any], **changes: Any) -> dict[str, Any]:
    first = catalogue["books"][0]
    return {**NEW_BOOK, "author_id": first.author_id, "publisher_id": first.publisher_id, **changes}


# -- reads ------------------------------------------------------------------------------


async def test_book_list_costs_the_same_queries_at_any_page_size(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    for size in (1, 5, 12):
        # The page with author and publisher joined, then the tags of the page's books.
        async with assert_num_queries(2):
            response = await client.get(f"/api/books/?page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
    rows = {row["isbn"]: row for row in response.json()["results"]}
    orion = rows["9780000000004"]
    assert orion["author"] == {"id": orion["author_id"], "name": "Dana Whitfield"}
    assert orion["publisher"]["name"] == "Orbit Press"
    assert sorted(tag["name"] for tag in orion["tags"]) == ["science-fiction", "space"]
    assert orion["rating"] == 5.0
    assert orion["review_count"] == 1


@pytest.mark.parametrize(
    ("resource", "queries"),
    [
        ("publishers", 1),
        ("authors", 1),
        ("categories", 1),
        ("tags", 1),
        ("books", 2),
        ("reviews", 1),
    ],
)
async def test_every_list_costs_a_constant_number_of_queries(
    client: AppClient, catalogue: dict[str, Any], resource: str, queries: int
) -> None:
    for size in (1, 2, 100):
        async with assert_num_queries(queries):
            response = await client.get(f"/api/{resource}/?page_size={size}")
        assert response.status_code == 200
    assert (
        len(response.json()["results"])
        == {"publishers": 3, "authors": 4, "categories": 3, "tags": 5, "books": 12, "reviews": 3}[
            resource
        ]
    )


async def test_enriched_list_batches_authors_and_categories_in_three_queries(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    for size in (1, 5, 12):
        # The page, then one DataLoader batch each for its authors and its categories.
        async with assert_num_queries(3):
            response = await client.get(f"/api/books/enriched/?page_size={size}")
        assert response.status_code == 200, response.text
        assert len(response.json()["results"]) == size
    rows = {row["isbn"]: row for row in response.json()["results"]}
    assert set(rows) == {book.isbn for book in catalogue["books"]}
    assert rows["9780000000004"]["author_name"] == "Dana Whitfield"
    assert rows["9780000000004"]["category_name"] == "Fiction"
    assert rows["9780000000002"]["category_name"] == "Mystery"
    assert rows["9780000000003"]["category_name"] == "Non-fiction"
    assert rows["9780000000004"]["price"] == "9.99"
    # The same books, in the same order, as the plain list.
    plain = (await client.get("/api/books/?page_size=12")).json()["results"]
    assert [row["id"] for row in response.json()["results"]] == [row["id"] for row in plain]


async def test_enriched_list_takes_filters_and_cursors_and_uncategorised_books(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    dana = catalogue["books"][3].author_id
    first = await Book.objects.order_by("-id").first()
    assert first is not None
    await Book.objects.filter(id=first.id).update(category_id=None)
    # Only categorised books ask for a category: a page of one uncategorised book
    # costs the page and the author batch, no category query.
    async with assert_num_queries(2):
        lone = await client.get("/api/books/enriched/?page_size=1")
    assert lone.json()["results"][0]["id"] == first.id
    assert lone.json()["results"][0]["category_id"] is None
    assert lone.json()["results"][0]["category_name"] == ""

    seen: list[int] = []
    url: str | None = f"/api/books/enriched/?author_id={dana}&page_size=2"
    while url:
        page = (await client.get(url)).json()
        assert all(row["author_name"] == "Dana Whitfield" for row in page["results"])
        seen.extend(row["id"] for row in page["results"])
        url = f"/api/books/enriched/{page['next']}" if page["next"] else None
    assert seen == sorted((b.id for b in catalogue["books"] if b.author_id == dana), reverse=True)

    bad = await client.get("/api/books/enriched/?author_id=dana")
    assert bad.status_code == 400
    assert "author_id" in bad.text
    forged = await client.get("/api/books/enriched/?cursor=not-a-cursor")
    assert forged.status_code == 400
    assert "cursor" in forged.text


async def test_staff_manage_categories_and_books_filter_on_them(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    staff = await login(client, staff=True)
    created = await client.post("/api/categories/", json={"name": "Poetry"}, headers=staff)
    assert created.status_code == 201, created.text
    poetry = created.json()["id"]
    taken = await client.post("/api/categories/", json={"name": "Poetry"}, headers=staff)
    assert taken.status_code == 409, taken.text
    empty = await client.post("/api/categories/", json={"name": ""}, headers=staff)
    assert empty.status_code == 400
    assert "name" in empty.json()["errors"]

    book = catalogue["books"][0]
    moved = await client.patch(
        f"/api/books/{book.id}/", json={"category_id": poetry}, headers=staff
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["category_id"] == poetry
    shelf = (await client.get(f"/api/books/?category_id={poetry}")).json()["results"]
    assert [row["id"] for row in shelf] == [book.id]

    # Deleting a category un-shelves its books instead of refusing or deleting them.
    deleted = await client.delete(f"/api/categories/{poetry}/", headers=staff)
    assert deleted.status_code == 204
    assert (await Book.objects.get(id=book.id)).category_id is None
    loose = (await client.get("/api/books/?category_id__isnull=true")).json()["results"]
    assert [row["id"] for row in loose] == [book.id]


async def test_cursor_pages_walk_the_catalogue_without_overlap(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    seen: list[int] = []
    url: str | None = "/api/books/?page_size=5"
    while url:
        page = (await client.get(url)).json()
        seen.extend(row["id"] for row in page["results"])
        url = f"/api/books/{page['next']}" if page["next"] else None
    assert seen == sorted((book.id for book in catalogue["books"]), reverse=True)


async def test_detail_and_404(client: AppClient, catalogue: dict[str, Any]) -> None:
    book = catalogue["books"][0]
    async with assert_num_queries(2):  # the book joined with author and publisher, its tags
        response = await client.get(f"/api/books/{book.id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "The Dreaming Engine"
    assert body["author"]["name"] == "Ada Reyes"
    assert body["review_count"] == 2
    assert body["rating"] == 4.5

    missing = await client.get("/api/books/999999/")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404


async def test_filters_search_and_ordering(client: AppClient, catalogue: dict[str, Any]) -> None:
    cheap = (await client.get("/api/books/?price__lte=10&ordering=price")).json()["results"]
    assert [row["price"] for row in cheap] == ["8.75", "9.99"]
    found = (await client.get("/api/books/?search=ferry")).json()["results"]
    assert [row["title"] for row in found] == ["The Ferry Murders"]
    author_id = catalogue["books"][1].author_id
    by_author = (await client.get(f"/api/books/?author_id={author_id}")).json()["results"]
    assert {row["author"]["name"] for row in by_author} == {"Bo Lindqvist"}
    assert len(by_author) == 3
    top = (await client.get("/api/books/?ordering=-rating&page_size=2")).json()["results"]
    assert [row["rating"] for row in top] == [5.0, 4.5]


async def test_bad_query_parameters_are_400_naming_them(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    ordering = await client.get("/api/books/?ordering=colour")
    assert ordering.status_code == 400
    assert "ordering" in ordering.text
    assert "colour" in ordering.text
    price = await client.get("/api/books/?price__gte=cheap")
    assert price.status_code == 400
    assert "price__gte" in price.text
    cursor = await client.get("/api/books/?cursor=forged")
    assert cursor.status_code == 400
    assert "cursor" in cursor.text


async def test_openapi_document_is_valid_and_docs_are_served(client: AppClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert {"/api/books/", "/api/books/{pk}/", "/api/reviews/", "/auth/login"} <= set(
        document["paths"]
    )
    assert "session" in document["components"]["securitySchemes"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


async def test_health(client: AppClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "tasks": "ok"}


# -- writes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource", ["publishers", "authors", "categories", "tags", "books", "reviews"]
)
async def test_no_write_is_reachable_anonymously(
    client: AppClient, catalogue: dict[str, Any], resource: str
) -> None:
    book = catalogue["books"][0]
    ids = {"books": book.id, "publishers": book.publisher_id, "authors": book.author_id}
    review = await Review.objects.filter(book_id=book.id).first()
    assert review is not None
    tag = (await client.get("/api/tags/")).json()["results"][0]["id"]
    assert book.category_id is not None
    pk = {**ids, "reviews": review.id, "tags": tag, "categories": book.category_id}[resource]
    before = await client.get(f"/api/{resource}/{pk}/")
    for method, url in (
        ("POST", f"/api/{resource}/"),
        ("PUT", f"/api/{resource}/{pk}/"),
        ("PATCH", f"/api/{resource}/{pk}/"),
        ("DELETE", f"/api/{resource}/{pk}/"),
    ):
        response = await client.request(method, url, json={"name": "x"})
        assert response.status_code == 401, (method, url, response.text)
    assert (await client.get(f"/api/{resource}/{pk}/")).json() == before.json()


async def test_staff_create_update_delete_a_book(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    headers = await login(client, staff=True)
    created = await client.post("/api/books/", json=book_body(catalogue), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["author"]["name"] == "Ada Reyes"
    assert body["rating"] == 0.0
    stored = await Book.objects.get(id=body["id"])
    assert stored.title == "Gravity's Harp"

    patched = await client.patch(
        f"/api/books/{body['id']}/", json={"price": "15.50"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == "15.50"
    assert str((await Book.objects.get(id=body["id"])).price) == "15.50"

    deleted = await client.delete(f"/api/books/{body['id']}/", headers=headers)
    assert deleted.status_code == 204
    assert not await Book.objects.filter(id=body["id"]).exists()


async def test_staff_set_a_books_tags_with_the_action(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    book = catalogue["books"][1]
    tags = {row["name"]: row["id"] for row in (await client.get("/api/tags/")).json()["results"]}
    url = f"/api/books/{book.id}/tags/"
    wanted = {"tag_ids": [tags["classics"], tags["essays"]]}
    assert (await client.put(url, json=wanted)).status_code == 401
    reader = await login(client, staff=False)
    assert (await client.put(url, json=wanted, headers=reader)).status_code == 403

    staff = await login(client, staff=True)
    response = await client.put(url, json=wanted, headers=staff)
    assert response.status_code == 200, response.text
    assert sorted(tag["name"] for tag in response.json()["tags"]) == ["classics", "essays"]
    shown = (await client.get(f"/api/books/{book.id}/")).json()
    assert sorted(tag["name"] for tag in shown["tags"]) == ["classics", "essays"]

    unknown = await client.put(url, json={"tag_ids": [tags["crime"], 424242]}, headers=staff)
    assert unknown.status_code == 400
    assert "`424242`" in unknown.json()["errors"]["tag_ids"][0]
    malformed = await client.put(url, json={"tag_ids": "crime"}, headers=staff)
    assert malformed.status_code == 400
    assert "tag_ids" in malformed.json()["errors"]
    # Neither refused request changed anything.
    shown = (await client.get(f"/api/books/{book.id}/")).json()
    assert sorted(tag["name"] for tag in shown["tags"]) == ["classics", "essays"]


async def test_writes_without_the_csrf_token_are_refused(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    await login(client, staff=True)
    response = await client.post("/api/books/", json=book_body(catalogue))
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_missing"
    assert "X-CSRF-Token" in response.json()["detail"]
    assert not await Book.objects.filter(isbn=NEW_BOOK["isbn"]).exists()


async def test_readers_may_review_but_not_edit_the_catalogue(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    headers = await login(client, staff=False)
    refused = await client.post("/api/books/", json=book_body(catalogue), headers=headers)
    assert refused.status_code == 403
    book = catalogue["books"][2]
    review = await client.post(
        "/api/reviews/",
        json={"book_id": book.id, "rating": 4, "body": "Sharp.", "user_id": 999},
        headers=headers,
    )
    # `user_id` is the server's to set: sending it is refused, not silently honoured.
    assert review.status_code == 400
    assert "user_id" in review.json()["errors"]
    review = await client.post(
        "/api/reviews/", json={"book_id": book.id, "rating": 4, "body": "Sharp."}, headers=headers
    )
    assert review.status_code == 201, review.text
    me = (await client.get("/auth/me")).json()["user"]
    assert review.json()["user_id"] == me["id"]

    # Someone else's review: 403, and it is unchanged.
    other = await Review.objects.filter(book_id=catalogue["books"][0].id).first()
    assert other is not None
    forbidden = await client.patch(f"/api/reviews/{other.id}/", json={"rating": 1}, headers=headers)
    assert forbidden.status_code == 403
    assert (await Review.objects.get(id=other.id)).rating == other.rating


async def test_validation_errors_name_every_field(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    headers = await login(client, staff=True)
    response = await client.post(
        "/api/books/",
        json=book_body(catalogue, isbn="12", price="-1", colour="red", title=None),
        headers=headers,
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"isbn", "price", "colour", "title"} <= set(errors)
    spaces = await client.post(
        "/api/books/", json=book_body(catalogue, title=" Padded "), headers=headers
    )
    assert spaces.status_code == 400
    assert "spaces" in spaces.json()["errors"]["title"][0]
    taken = await client.post(
        "/api/books/", json=book_body(catalogue, isbn="9780000000001"), headers=headers
    )
    assert taken.status_code == 409
    assert "isbn" in taken.json()["errors"]
    bad_rating = await client.post(
        "/api/reviews/", json={"book_id": catalogue["books"][0].id, "rating": 9}, headers=headers
    )
    assert bad_rating.status_code == 400
    assert "rating" in bad_rating.json()["errors"]


async def test_a_review_queues_the_rating_task_which_recomputes_it(
    client: AppClient, catalogue: dict[str, Any], db: Database
) -> None:
    app: Any = client.app
    book = catalogue["books"][5]
    headers = await login(client, staff=False)
    response = await client.post(
        "/api/reviews/", json={"book_id": book.id, "rating": 2}, headers=headers
    )
    assert response.status_code == 201
    # The test's transaction never commits, so the job waits in the outbox, written in
    # the same transaction as the review (a rolled-back review queues nothing).
    queued = await db.fetch(
        f"SELECT task, payload FROM {OUTBOX_TABLE} WHERE prefix = $1", app.tasks.prefix
    )
    assert [row["task"] for row in queued] == [RECOMPUTE_RATING]
    assert (await Book.objects.get(id=book.id)).review_count == 0

    # What the relay would queue after the commit, run by a real worker.
    async with app.tasks.worker():
        handle = await app.tasks.tasks[RECOMPUTE_RATING].enqueue(book.id)
        assert await handle.result(timeout=10) == 2.0
    updated = (await client.get(f"/api/books/{book.id}/")).json()
    assert (updated["rating"], updated["review_count"]) == (2.0, 1)


async def test_seeding_twice_adds_nothing(client: AppClient, catalogue: dict[str, Any]) -> None:
    assert await seed_demo_data(catalogue["reviewer"].id) == 0
    assert await Book.objects.count() == 12
    assert await Category.objects.count() == 3
    assert await seed_categories() == 0


async def test_seeding_shelves_a_catalogue_seeded_before_categories(
    client: AppClient, catalogue: dict[str, Any]
) -> None:
    # The state of a development database seeded before migration 0002.
    await Book.objects.filter(id__gte=0).update(category_id=None)
    await Category.objects.filter(id__gte=0).delete()
    moved = catalogue["books"][0]
    staff = await login(client, staff=True)
    picks = await client.post("/api/categories/", json={"name": "Staff picks"}, headers=staff)
    own = picks.json()
    await Book.objects.filter(id=moved.id).update(category_id=own["id"])

    assert await seed_demo_data(catalogue["reviewer"].id) == 0
    assert await Category.objects.count() == 4
    # Every other book is shelved; the one a user placed stays where it was.
    assert not await Book.objects.filter(category_id__isnull=True).exists()
    assert (await Book.objects.get(id=moved.id)).category_id == own["id"]
    assert await seed_categories() == 0


async def test_development_start_without_tables_says_how_to_migrate(
    db: Database, redis_url: str
) -> None:
    app = create_app(
        {
            "env": "development",
            "secret_key": "bookstore-tests-" + "s" * 40,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {"redis_url": redis_url, "tasks_prefix": f"bookstore-{uuid.uuid4().hex}:"},
        }
    )
    with pytest.raises(ImproperlyConfigured) as error:
        async with AppClient(app):
            pass
    message = str(error.value)
    assert "bookstore_books" in message
    assert "STELLATE_MIGRATIONS_DIR=examples/bookstore/migrations" in message


# -- the one command of the README ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_uvicorn_serves_the_app_with_no_environment(tmp_path: Path) -> None:
    port = _free_port()
    # Nothing Stellate reads: no database, no Redis, no secret. The working directory
    # is a temporary folder, so the embedded servers live under tmp_path/.stellate.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("STELLATE_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env["PYTHONPATH"] = str(REPO)
    log = (tmp_path / "server.log").open("wb")
    started = time.monotonic()
    server = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "examples.bookstore.app:app", "--port", str(port)),
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            health = None
            while time.monotonic() - started < 25:
                try:
                    health = await http.get("/health")
                    break
                except httpx.TransportError:
                    assert server.returncode is None, (tmp_path / "server.log").read_text()
                    await asyncio.sleep(0.2)
            assert health is not None, (tmp_path / "server.log").read_text()
            assert health.status_code == 200, health.text
            assert (tmp_path / ".stellate" / "pgdata").is_dir()

            books = await http.get("/api/books/")
            assert books.status_code == 200
            rows = books.json()["results"]
            assert len(rows) == 12
            assert all(row["author"]["name"] and row["publisher"]["name"] for row in rows)

            # The printed demo login works, and a review reaches the in-process worker
            # through the outbox once its transaction commits.
            login = await http.post(
                "/auth/login", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
            )
            assert login.status_code == 200, login.text
            target = next(row for row in rows if row["review_count"] == 0)
            review = await http.post(
                "/api/reviews/",
                json={"book_id": target["id"], "rating": 3},
                headers={"X-CSRF-Token": login.json()["csrf_token"], "Origin": base},
            )
            assert review.status_code == 201, review.text
            rating = None
            while time.monotonic() - started < 28:
                rating = (await http.get(f"/api/books/{target['id']}/")).json()["rating"]
                if rating == 3.0:
                    break
                await asyncio.sleep(0.1)
            assert rating == 3.0
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=15)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert f"username `{DEMO_USERNAME}`" in output
    assert "Applied 2 bookstore migration(s)" in output

    # `stellate seed` on the same embedded database: everything is there already.
    seed = await asyncio.create_subprocess_exec(
        *(str(Path(sys.executable).parent / "stellate"), "--app", "examples.bookstore.app:app"),
        "seed",
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seeded, _ = await asyncio.wait_for(seed.communicate(), timeout=30)
    assert seed.returncode == 0, seeded.decode()
    assert "Added 0 book(s), 12 in the catalogue" in seeded.decode()
