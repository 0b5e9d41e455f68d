"""Fixtures of the reliability tests: the repository on ``sys.path``, servers in subprocesses.

The example apps are imported as ``examples.<app>`` from the repository root, as
``uvicorn`` run from the root sees them; ``pytest`` does not put the root on
``sys.path`` by itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _reliability_serving import (
    Services,
    bookstore_env,
    migrate_and_seed,
    private_postgres,
    private_redis,
)

ROOT = str(Path(__file__).resolve().parents[2])

#: A small pool with short timeouts, so exhaustion and outages show within a second.
POOL = {
    "STELLATE_POOL_SIZE": "4",
    "STELLATE_POOL_ACQUIRE_TIMEOUT": "1000",
    "STELLATE_CONNECT_TIMEOUT": "1000",
}


def pytest_configure() -> None:
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with private_postgres() as postgres, private_redis() as redis:
        env = bookstore_env(postgres.url, redis.url, **POOL)
        migrate_and_seed(env)
        yield Services(postgres, redis, env, tmp_path_factory.mktemp("services"))
