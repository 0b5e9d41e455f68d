"""Shared helpers of the stellate-tasks tests (key prefixes of this run)."""

from __future__ import annotations

import itertools
import uuid

#: Every key this test run writes contains it, so teardown deletes only our keys.
RUN_PREFIX = f"stellate-test-{uuid.uuid4().hex[:10]}:"
_counter = itertools.count()


def new_prefix() -> str:
    """A key prefix of its own for one app (inside this run's prefix)."""
    return f"{RUN_PREFIX}{next(_counter)}:"
