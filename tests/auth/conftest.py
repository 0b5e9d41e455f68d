"""Fixtures of the auth tests: a real PostgreSQL database and a controllable clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from _auth_support import Clock, QueryLog

from stellate.auth.security import SecurityLog
from stellate.auth.sessions import SessionAuth
from stellate.orm.database import Database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
async def auth_db() -> AsyncIterator[Database]:
    db = Database(os.environ.get("STELLATE_TEST_DATABASE_URL", DEFAULT_URL), alias="auth-tests")
    await db.connect()
    await SessionAuth(secret="setup", database=db).ensure_table()
    await SecurityLog(db).ensure_table()
    yield db
    await db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queries(auth_db: Database) -> Iterator[QueryLog]:
    log = QueryLog()
    remove = auth_db.add_observer(log)
    yield log
    remove()
