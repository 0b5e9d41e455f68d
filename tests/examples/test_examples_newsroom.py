"""The newsroom example over HTTP on PostgreSQL: the feed, the admin's login wall, migrations.

The browser tests of its admin live in ``tests/admin_browser``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from examples.newsroom.app import create_app
from examples.newsroom.models import ALL_MODELS, Article, Status
from examples.newsroom.seed import seed_demo_data
from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.testing import assert_num_queries, create_tables

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(db: Database) -> AsyncIterator[AppClient]:
    await create_tables(*ALL_MODELS)
    app = create_app({"env": "test", "secret_key": "newsroom-tests-" + "s" * 40})
    async with AppClient(app) as http:
        yield http


async def test_feed_lists_published_articles_newest_first_in_one_query(
    client: AppClient,
) -> None:
    assert await seed_demo_data() == 10
    assert await seed_demo_data() == 0  # idempotent
    hidden = await Article.objects.get(title="The comet that came back")
    await hidden.delete()  # soft delete: the row stays, the feed drops it

    async with assert_num_queries(1):
        response = await client.get("/api/articles")
    assert response.status_code == 200
    feed = response.json()
    titles = [item["title"] for item in feed]
    published = [
        a
        for a in await Article.objects.filter(status=Status.PUBLISHED).order_by(
            "-published_on", "-id"
        )
        if a.published_on is not None
    ]
    assert titles == [a.title for a in published]
    assert "The comet that came back" not in titles
    assert await Article.all_objects.filter(title="The comet that came back").exists()
    dates = [item["published_on"] for item in feed]
    assert dates == sorted(dates, reverse=True)
    assert {"section", "reporter"} <= set(feed[0])


async def test_admin_needs_a_staff_login_and_anonymous_writes_change_nothing(
    client: AppClient,
) -> None:
    await seed_demo_data()
    page = await client.get("/admin/newsroom/article/", follow_redirects=False)
    assert page.status_code in (302, 303)
    assert page.headers["location"].startswith("/admin/login/")

    before = await Article.all_objects.count()
    write = await client.post(
        "/admin/newsroom/article/add/",
        data={"title": "Sneaky", "section_id": "1", "reporter_id": "1", "status": "draft"},
        follow_redirects=False,
    )
    assert write.status_code in (302, 303, 403)
    assert await Article.all_objects.count() == before


def test_migrations_match_the_models() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stellate.orm.migrations",
            "makemigrations",
            "--check",
            "--models",
            "examples.newsroom.models",
            "--migrations-dir",
            "examples/newsroom/migrations",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
