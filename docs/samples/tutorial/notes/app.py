"""The notes application.

Serve it with `stellate run app:app --reload` (or `uvicorn app:app`).
With no STELLATE_DATABASE_URL an embedded PostgreSQL starts under `.stellate/`
and the migrations in `migrations/` are applied to it at startup.
With no STELLATE_REDIS_URL an embedded Redis starts too, and in development a
task worker runs inside the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec
from stellate.auth import require_auth
from stellate.core import App, Request
from stellate.rest import mount_openapi

from api import router
from models import Note


class Greeting(msgspec.Struct):
    """The body of POST /greetings."""

    name: str


@contextlib.asynccontextmanager
async def _development_worker(app: App) -> AsyncIterator[None]:
    # In development one command runs everything: a task worker inside the server.
    # In production run workers apart: `stellate --app app:app worker`.
    async with app.tasks.worker():
        yield


def create_app(settings: Mapping[str, Any] | None = None) -> App:
    """Build the app; `settings` win over the environment (tests pass theirs)."""
    app = App(plugins=["orm", "rest", "auth", "tasks"], settings=dict(settings or {}))
    app.mount_health()
    app.include(router, prefix="/api")
    mount_openapi(app, title="notes", version="0.1.0")  # /openapi.json, /docs

    @app.get("/")
    async def index(request: Request) -> dict[str, str]:
        return {"project": "notes", "message": "It works!"}

    @app.post("/greetings")
    async def greet(request: Request) -> dict[str, str]:
        greeting = await request.json(Greeting)
        return {"message": f"Hello, {greeting.name}!"}

    @app.task(name="archive_done_notes", max_retries=3, retry_on=(ConnectionError,))
    async def archive_done_notes() -> int:
        """Delete the notes marked done; return how many (runs on a worker)."""
        return await Note.objects.filter(done=True).delete()

    @app.post("/api/notes/archive")
    async def archive(request: Request) -> dict[str, str]:
        """Queue `archive_done_notes`; answer at once with the job id."""
        require_auth(request)  # 401 unless logged in
        handle = await archive_done_notes.enqueue()
        return {"job": handle.id}

    @app.get("/api/jobs/{job_id}")
    async def job(request: Request, job_id: str) -> dict[str, str]:
        """Where a job is: queued, in_progress, complete, failed or not_found."""
        status = await app.tasks.handle(job_id, archive_done_notes).status()
        return {"job": job_id, "status": str(status)}

    if app.settings.env == "development":
        app.add_lifespan(_development_worker)
    return app


app = create_app()
