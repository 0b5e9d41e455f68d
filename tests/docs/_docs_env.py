"""The environment of a reader's shell, for the subprocesses the docs tests start."""

from __future__ import annotations

import os

#: The test servers, passed through when set (else the subprocess starts embedded ones).
TEST_SERVERS = ("STELLATE_TEST_DATABASE_URL", "STELLATE_TEST_REDIS_URL")


def new_user_env(**extra: str) -> dict[str, str]:
    """``os.environ`` without STELLATE_* settings or an active virtualenv, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STELLATE_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"))
    }
    for name in TEST_SERVERS:
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(extra)
    return env
