"""Shared fixtures of the stellate-orm tests.

The ``database``, ``db`` and ``assert_num_queries`` fixtures come from
``stellate.orm.testing`` (loaded through the ``stellate.pytest`` entry point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stellate.orm import Database


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
