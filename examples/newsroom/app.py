"""The newsroom example: editors manage articles in the admin; readers get a JSON feed.

Serve it from the repository root with nothing configured::

    uv run uvicorn examples.newsroom.app:app

In development (the default ``STELLATE_ENV``) with no ``STELLATE_DATABASE_URL`` the
orm plugin starts an embedded PostgreSQL under ``.stellate/`` and applies this
example's migrations (``orm.migrations_dir`` points at them); the app then loads the
demo articles and prints a staff login for the admin at ``/admin/``. The public feed
is ``GET /api/articles`` (published articles, newest first); every write goes through
the admin, which needs a staff login.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from examples.newsroom.admin import grant_demo_permissions, register_admin
from examples.newsroom.models import Article, Status
from examples.newsroom.seed import DEMO_PASSWORD, DEMO_USERNAME, ensure_demo_user, seed_demo_data
from stellate.core import App, Request

#: The example's migrations, generated with ``makemigrations`` (see the README).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

logger = logging.getLogger("stellate.newsroom")


def create_app(settings: Mapping[str, Any] | None = None) -> App:
    """Build the newsroom app.

    Args:
        settings: values that win over the environment, as for ``App(settings=...)``.

    Returns:
        The app: the admin at ``/admin/``, the feed at ``/api/articles``, ``/health``.
    """
    values = dict(settings or {})
    orm = dict(values.get("orm") or {})
    orm.setdefault("migrations_dir", str(MIGRATIONS_DIR))
    values["orm"] = orm
    app = App(plugins=["orm", "auth", "admin"], settings=values)
    register_admin(app.admin)
    app.add_route("/api/articles", published_articles, methods=["GET"])
    app.mount_health()
    if app.settings.env == "development":
        app.add_lifespan(_development)
    return app


async def published_articles(request: Request) -> list[dict[str, Any]]:
    """The 20 newest published articles with their section and reporter names."""
    articles = await (
        Article.objects.filter(status=Status.PUBLISHED, published_on__isnull=False)
        .select_related("section", "reporter")
        .order_by("-published_on", "-id")
        .limit(20)
    )
    return [
        {
            "id": article.id,
            "title": article.title,
            "published_on": article.published_on,
            "featured": article.featured,
            "section": article.section.name,
            "reporter": article.reporter.name,
        }
        for article in articles
    ]


@contextlib.asynccontextmanager
async def _development(app: App) -> AsyncIterator[None]:
    editor = await ensure_demo_user(app.auth)
    await grant_demo_permissions(app.admin, app.auth, editor)
    added = await seed_demo_data()
    if added:
        logger.warning("Loaded %d demo articles", added)
    logger.warning(
        "Newsroom demo login (development only): username `%s`, password `%s`; admin at /admin/",
        DEMO_USERNAME,
        DEMO_PASSWORD,
    )
    yield


app = create_app()
