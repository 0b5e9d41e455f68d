"""Notes with a due date, over the API."""

from __future__ import annotations

from stellate.core import App
from stellate.core.testing import AppClient

from tests.test_app import login


async def test_overdue_notes(client: AppClient, app: App) -> None:
    headers = await login(client, app)
    notes = [("Taxes", "2026-04-15"), ("Holiday", "2026-08-01"), ("Someday", None)]
    for title, due in notes:
        note = {"title": title, "due": due}
        created = await client.post("/api/notes/", json=note, headers=headers)
        assert created.status_code == 201, created.text
    overdue = await client.get("/api/notes/", params={"due__lte": "2026-06-30"})
    assert [note["title"] for note in overdue.json()["results"]] == ["Taxes"]
    bad = await client.get("/api/notes/", params={"due__lte": "soon"})
    assert bad.status_code == 400
