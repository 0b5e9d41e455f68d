"""Shared fixtures of the stellate-orm tests.

The ``database``, ``db`` and ``assert_num_queries`` fixtures come from
``stellate.orm.testing`` (loaded through the ``stellate.pytest`` entry point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from stellate.orm import Database
from stellate.orm.database import activate, restore

ENV_NAMES = (
    "STELLATE_DATABASE_URL",
    "DATABASE_URL",
    "STELLATE_DATABASES",
    "STELLATE_POOL_SIZE",
    "STELLATE_ENV",
    "STELLATE_EMBEDDED_DATABASE",
    "STELLATE_EMBEDDED_DIR",
)


@pytest.fixture
def test_url(database: Database) -> str:
    """The URL of the test database, for tests that open pools of their own."""
    assert database.url is not None
    return database.url


@pytest.fixture
async def own_db(test_url: str) -> AsyncIterator[Database]:
    """A separate small pool on the test database (not the shared test transaction)."""
    db = Database(test_url, alias="own", pool_size=2, acquire_timeout=2.0)
    await db.connect()
    yield db
    await db.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No database variables in the environment; set the ones a test needs on it."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def outside_tests(database: Database) -> Iterator[None]:
    """Hide the test database, so the plugin opens its own pools as in production."""
    previous = activate({}, testing=False)
    yield
    restore(previous)
