"""The app the auth benchmark serves: orm + auth, one JSON route, one liveness route.

``GET /`` answers the same JSON whether the request carries a session or not (the
anonymous/authenticated pair measures only what authentication adds); ``GET /healthz``
touches neither the database nor auth state, so its latency shows how responsive the
event loop is while logins hash passwords. At startup the benchmark user
``BENCH_AUTH_USERNAME`` / ``BENCH_AUTH_PASSWORD`` is created when missing.
"""

from __future__ import annotations

import contextlib
import os

from stellate.auth import Auth, UserExistsError
from stellate.core import App, Request

app = App(plugins=["orm", "auth"])


@app.get("/")
async def data(request: Request) -> dict[str, object]:
    return {"hello": "world", "items": [1, 2, 3]}


@app.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    return {"status": "ok"}


@app.on_startup
async def ensure_bench_user() -> None:
    auth: Auth = app.auth
    username = os.environ["BENCH_AUTH_USERNAME"]
    if await auth.users.get_by_username(username) is None:
        # Another server of the same run may have created it first.
        with contextlib.suppress(UserExistsError):
            await auth.users.create_user(username, os.environ["BENCH_AUTH_PASSWORD"])
