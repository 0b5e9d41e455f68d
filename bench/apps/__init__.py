"""The applications the benchmarks serve, one module per framework (``module:app``)."""

from __future__ import annotations

import os

__all__ = ["stellate_app_plugins"]


def stellate_app_plugins() -> str:
    """The plugin list ``bench.apps.stellate_app`` enables in servers started from here."""
    return os.environ.get("BENCH_STELLATE_PLUGINS", "orm,rest,auth,tasks,admin")
