"""The bookstore example's admin: the demo account sees every model; the change list of
50 books with two foreign-key columns costs a fixed number of queries."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

# The bookstore also needs stellate-rest and stellate-tasks, which the isolated admin
# session (`nox -s admin`) does not install.
pytest.importorskip("stellate.rest", reason="the bookstore example needs stellate-rest")
pytest.importorskip("stellate.tasks", reason="the bookstore example needs stellate-tasks")

from examples.bookstore.admin import grant_demo_permissions
from examples.bookstore.app import create_app
from examples.bookstore.models import ALL_MODELS, Author, Book, Publisher, Review
from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.testing import assert_num_queries, create_tables

PASSWORD = "violet tractor under the sea"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from stellate.tasks.embedded import start_embedded_redis, stop_embedded_redis

    server, embedded_url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    yield embedded_url
    stop_embedded_redis(server)


@pytest.fixture
async def bookstore(db: Database, redis_url: str) -> AsyncIterator[AppClient]:
    await create_tables(*ALL_MODELS)
    app = create_app(
        {
            "env": "test",
            "secret_key": "bookstore-admin-tests-" + "s" * 40,
            "auth": {"password_profile": "owasp-minimum", "recheck_interval": 3600},
            "tasks": {"redis_url": redis_url, "tasks_prefix": f"admin-{uuid.uuid4().hex}:"},
        }
    )
    async with AppClient(app) as http:
        await app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        yield http


async def editor_login(client: AppClient) -> None:
    app: Any = client.app
    user = await app.auth.users.create_user(f"ed-{uuid.uuid4().hex[:6]}", PASSWORD, is_staff=True)
    await grant_demo_permissions(app.admin, app.auth, user.id)
    response = await client.post(
        "/admin/login/", data={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 303


async def test_demo_staff_sees_every_bookstore_model(bookstore: AppClient) -> None:
    await editor_login(bookstore)
    dashboard = await bookstore.get("/admin/")
    for name in ("publisher", "author", "category", "tag", "book", "review"):
        assert f'href="/admin/bookstore/{name}/"' in dashboard.text
    assert (await bookstore.get("/admin/bookstore/book/add/")).status_code == 200


async def test_book_change_list_of_50_rows_costs_two_queries(bookstore: AppClient) -> None:
    await editor_login(bookstore)
    north = await Publisher.objects.create(name="North")
    authors = [await Author.objects.create(name=f"Author {n}") for n in range(5)]
    await Book.objects.bulk_create(
        [
            Book(
                title=f"Book {n:03d}",
                isbn=f"{9780000000000 + n}",
                price=Decimal("9.99"),
                author_id=authors[n % 5].id,
                publisher_id=north.id,
            )
            for n in range(120)
        ]
    )
    # The 50 rows with author, publisher and category joined (1) and the choices of the
    # category and publisher filters (2); the same for the next page.
    async with assert_num_queries(3):
        page = await bookstore.get("/admin/bookstore/book/")
    rows = re.findall(r'<tr id="row-\d+">', page.text)
    assert len(rows) == 50
    assert "Author 0" in page.text
    assert "North" in page.text
    follow = re.search(r'<a href="([^"]+)" class="button" id="next-page"', page.text)
    assert follow is not None
    async with assert_num_queries(3):
        second = await bookstore.get(follow.group(1).replace("&amp;", "&"))
    assert "Book 050" in second.text


async def test_book_form_with_review_inline(bookstore: AppClient) -> None:
    await editor_login(bookstore)
    north = await Publisher.objects.create(name="North")
    author = await Author.objects.create(name="Dana")
    book = await Book.objects.create(
        title="Orion",
        isbn="9780000000004",
        price=Decimal("12"),
        author_id=author.id,
        publisher_id=north.id,
    )
    await Review.objects.create(book_id=book.id, user_id=1, rating=5, body="Great")
    page = await bookstore.get(f"/admin/bookstore/book/{book.id}/change/")
    assert page.status_code == 200
    assert "<legend>Sales</legend>" in page.text
    assert re.search(r"name=\"inline-review-0-rating\"[^>]* value=\"5\"", page.text)
    assert 'data-autocomplete="/admin/bookstore/author/autocomplete/"' in page.text
