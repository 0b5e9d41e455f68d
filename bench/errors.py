"""The one exception the harness raises for problems a user can fix."""

from __future__ import annotations

__all__ = ["BenchError"]


class BenchError(Exception):
    """A benchmark cannot run or went wrong; the message says why and how to fix it."""
