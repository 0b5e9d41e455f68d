"""Small apps served by uvicorn in the reliability tests.

``limits_app``: core only, an echo of the request body and a ping, for the body
size and body deadline limits (``STELLATE_MAX_BODY_SIZE``, ``STELLATE_BODY_TIMEOUT``).
"""

from __future__ import annotations

from typing import Any

from stellate.core import App, Request


def _limits_app() -> App:
    app = App(plugins=[])

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"received": len(body)}

    @app.get("/health")
    async def ping(request: Request) -> dict[str, str]:
        return {"status": "ok"}

    return app


limits_app = _limits_app()
