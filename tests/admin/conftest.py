"""Fixtures of the admin tests: an app with orm, auth and admin over HTTP on real PostgreSQL.

Every test runs inside the ``db`` fixture's transaction (rolled back afterwards); the
app under test shares it, so rows made here are what the pages show.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from admin_models import ALL_MODELS
from admin_support import PASSWORD, make_app

from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.testing import create_tables


@pytest.fixture
async def tables(db: Database) -> Database:
    await create_tables(*ALL_MODELS)  # with the junction table of Article.labels
    return db


@pytest.fixture
def app(tables: Database) -> App:
    return make_app()


@pytest.fixture
async def client(app: App) -> AsyncIterator[AppClient]:
    async with AppClient(app) as http:
        await app.auth.throttle.reset(ip="127.0.0.1")
        yield http


@pytest.fixture
def make_user(client: AppClient) -> Callable[..., Any]:
    async def create(
        *, staff: bool = True, superuser: bool = False, perms: tuple[str, ...] = ()
    ) -> Any:
        users = client.app.auth.users  # type: ignore[attr-defined]
        user = await users.create_user(
            f"user-{uuid.uuid4().hex[:8]}", PASSWORD, is_staff=staff, is_superuser=superuser
        )
        for codename in perms:
            await users.grant(codename, user_id=user.id)
        return user

    return create


def pytest_configure() -> None:
    # The bookstore test imports `examples`, as uvicorn run from the root does.
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
