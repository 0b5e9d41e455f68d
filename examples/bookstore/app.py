"""The bookstore example: models, migrations, a REST API, login, a background task.

Serve it from the repository root with nothing configured::

    uv run uvicorn examples.bookstore.app:app

In development (the default ``STELLATE_ENV``) with no ``STELLATE_DATABASE_URL``, the
orm plugin starts an embedded PostgreSQL under ``.stellate/`` and this app applies its
migrations to it; with no ``STELLATE_REDIS_URL`` the tasks plugin starts an embedded
Redis. Development also runs a task worker inside the server process, loads the demo
catalogue and prints a demo login. API under ``/api``, docs at ``/docs``, the admin
at ``/admin/`` (models registered in ``admin.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import click

from examples.bookstore.admin import grant_demo_permissions, register_admin
from examples.bookstore.api import build_router
from examples.bookstore.models import Book
from examples.bookstore.seed import DEMO_PASSWORD, DEMO_USERNAME, ensure_demo_user, seed_demo_data
from examples.bookstore.tasks import RECOMPUTE_RATING, recompute_book_rating
from stellate.core import App, ImproperlyConfigured
from stellate.orm import MissingTableError, OrmSettings
from stellate.orm.database import testing_databases
from stellate.orm.plugin import apply_migrations
from stellate.rest import mount_openapi

#: The example's migrations, generated with ``makemigrations`` (see the README).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

logger = logging.getLogger("stellate.bookstore")


def create_app(settings: Mapping[str, Any] | None = None) -> App:
    """Build the bookstore app.

    Args:
        settings: values that win over the environment, as for ``App(settings=...)``
            (tests pass ``{"env": "test", "orm": {...}, "tasks": {...}}``).

    Returns:
        The app, with the API under ``/api``, OpenAPI at ``/openapi.json``, docs at
        ``/docs``, login under ``/auth`` and ``/health``.
    """
    app = App(plugins=["orm", "rest", "auth", "tasks", "admin"], settings=dict(settings or {}))
    register_admin(app.admin)
    app.task(name=RECOMPUTE_RATING, max_retries=3, retry_on=(ConnectionError,))(
        recompute_book_rating
    )
    app.include(build_router(), prefix="/api")
    mount_openapi(
        app,
        title="Bookstore",
        version="1.0.0",
        description=(
            "Reads are public. Writes need a session: `POST /auth/login` with `username` "
            "and `password`, then send the returned `csrf_token` as `X-CSRF-Token`."
        ),
        security_schemes={
            "session": {"type": "apiKey", "in": "cookie", "name": "stellate_session"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
    )
    app.mount_health()
    if app.settings.env == "development":
        app.add_lifespan(_development)
    app.add_command(_seed_command(app))
    return app


def _uses_embedded_database(app: App) -> bool:
    if testing_databases() is not None:
        # Under the pytest fixtures every alias shares the test database, whatever the
        # settings say: its schema belongs to the tests.
        return False
    for plugin in app.plugins:
        if isinstance(plugin.config, OrmSettings):
            return plugin.config.database_url is None and "default" not in plugin.config.databases
    return False


@contextlib.asynccontextmanager
async def _development(app: App) -> AsyncIterator[None]:
    # The orm plugin migrates the embedded database with `STELLATE_MIGRATIONS_DIR`
    # (default: `migrations` in the working directory); this app's migrations live
    # next to it, so it applies them itself instead of asking for that variable.
    if _uses_embedded_database(app) and app.db.url is not None:
        applied = await apply_migrations(app.db.url, MIGRATIONS_DIR)
        if applied:
            logger.warning("Applied %d bookstore migration(s)", applied)
    reviewer = await ensure_demo_user(app.auth)
    await grant_demo_permissions(app.admin, app.auth, reviewer)
    try:
        added = await seed_demo_data(reviewer)
    except MissingTableError as exc:
        # A configured development database is migrated by its owner, not at startup.
        raise ImproperlyConfigured(
            f"The bookstore tables are missing ({exc}): apply the migrations with "
            "`STELLATE_MIGRATIONS_DIR=examples/bookstore/migrations uv run python -m "
            "stellate.orm.migrations migrate`, or unset STELLATE_DATABASE_URL to use the "
            "embedded PostgreSQL, which is migrated at startup"
        ) from None
    if added:
        logger.warning("Loaded the demo catalogue (%d books)", added)
    logger.warning(
        "Bookstore demo login (development only): username `%s`, password `%s`; API docs at "
        "/docs, admin at /admin/",
        DEMO_USERNAME,
        DEMO_PASSWORD,
    )
    # One command runs everything in development; production runs workers apart:
    # `stellate --app examples.bookstore.app:app worker`.
    async with app.tasks.worker():
        yield


def _seed_command(app: App) -> click.Command:
    @click.command("seed", help="Load the demo catalogue and account (idempotent).")
    def seed() -> None:
        import asyncio

        async def work() -> tuple[int, int, int]:
            async with app.router.lifespan_context(app):
                reviewer = await ensure_demo_user(app.auth)
                added = await seed_demo_data(reviewer)
                return reviewer, added, await Book.objects.count()

        reviewer, added, total = asyncio.run(work())
        click.echo(
            f"Added {added} book(s), {total} in the catalogue; "
            f"demo account `{DEMO_USERNAME}` has id {reviewer}"
        )

    return seed


app = create_app()
