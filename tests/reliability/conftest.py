"""Fixtures of the reliability tests: the repository on ``sys.path``, servers in subprocesses.

The example apps are imported as ``examples.<app>`` from the repository root, as
``uvicorn`` run from the root sees them; ``pytest`` does not put the root on
``sys.path`` by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])


def pytest_configure() -> None:
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
