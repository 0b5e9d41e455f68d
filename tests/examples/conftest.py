"""Makes the repository's ``examples`` package importable, as ``uvicorn`` run from the root sees it.

The examples are runnable apps, not installed distributions: ``uv run uvicorn
examples.bookstore.app:app`` imports them from the working directory, which pytest's
``pytest`` entry point does not put on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])


def pytest_configure() -> None:
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
