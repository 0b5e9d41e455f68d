"""Stellate with every first-party plugin enabled, serving the same JSON route.

The plugins read their services from the environment the harness sets
(``STELLATE_DATABASE_URL``, ``STELLATE_REDIS_URL``), so no embedded server starts.
``BENCH_STELLATE_PLUGINS`` (comma-separated, may be empty) narrows the plugin list
when a run needs to attribute a cost to plugins; the harness records the list.
"""

from __future__ import annotations

from bench.apps import stellate_app_plugins
from stellate.core import App, Request

PLUGINS = [name.strip() for name in stellate_app_plugins().split(",") if name.strip()]

app = App(plugins=PLUGINS)


@app.get("/")
async def hello(request: Request) -> dict[str, str]:
    return {"hello": "world"}
