"""The bookstore example as served in production, plus ``GET /`` for the harness's probe.

The harness starts every server by polling ``GET /`` until it answers 200; the
bookstore has no such route, so this module adds a one-line one. Nothing else
differs from ``uvicorn examples.bookstore.app:app``.
"""

from __future__ import annotations

from examples.bookstore.app import create_app
from stellate.core import Request

app = create_app()


@app.get("/")
async def probe(request: Request) -> dict[str, bool]:
    return {"ok": True}
