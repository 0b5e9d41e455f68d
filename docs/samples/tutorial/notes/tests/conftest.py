"""Test fixtures: the `client` fixture of stellate-core's pytest plugin uses `app`.

With stellate-orm, the `db` fixture runs each test in a transaction that is rolled
back, on a test database migrated with `migrations/` (on the server of
STELLATE_TEST_DATABASE_URL, or on an embedded PostgreSQL when it is unset).
"""

from __future__ import annotations

import os
import uuid

import pytest
from stellate.core import App

from app import create_app


@pytest.fixture(autouse=True)
def _rolled_back(db: object) -> None:
    """Every test runs inside the `db` fixture's transaction, rolled back after it."""


@pytest.fixture
def app() -> App:
    """The app with test settings (they win over the environment)."""
    return create_app(
        {
            "env": "test",
            "secret_key": "test-only-" + "k" * 50,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {
                # unset: an embedded Redis; each test app gets its own key prefix
                "redis_url": os.environ.get("STELLATE_TEST_REDIS_URL"),
                "tasks_prefix": f"test-{uuid.uuid4().hex}:",
                # the enqueue_on_commit outbox sweep stays out of the tests' way
                "tasks_outbox_interval": 60.0,
            },
        }
    )
