"""Tests of the notes application, over HTTP through the ASGI app."""

from __future__ import annotations

from stellate.core import App
from stellate.core.testing import AppClient

from models import Note

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test password


async def test_index(client: AppClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"project": "notes", "message": "It works!"}


async def test_greeting(client: AppClient) -> None:
    response = await client.post("/greetings", json={"name": "Ada"})
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada!"}


async def test_greeting_needs_a_name(client: AppClient) -> None:
    response = await client.post("/greetings", json={})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


async def test_health(client: AppClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_notes_are_stored(client: AppClient) -> None:
    note = await Note.objects.create(title="Buy milk")
    assert await Note.objects.filter(done=False).count() == 1
    note.done = True
    await note.save()
    assert (await Note.objects.get(pk=note.id)).done is True


async def login(client: AppClient, app: App) -> dict[str, str]:
    """Create a user, log in, and return the header that unsafe requests need."""
    await app.auth.users.create_user("ada", PASSWORD)
    credentials = {"username": "ada", "password": PASSWORD}
    response = await client.post("/auth/login", json=credentials)
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def test_login_and_me(client: AppClient, app: App) -> None:
    assert (await client.get("/auth/me")).status_code == 401
    await login(client, app)
    me = await client.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "ada"


async def test_wrong_password_is_refused(client: AppClient, app: App) -> None:
    await app.auth.users.create_user("ada", PASSWORD)
    credentials = {"username": "ada", "password": "not the password"}
    response = await client.post("/auth/login", json=credentials)
    assert response.status_code == 401


async def test_notes_api_reads_are_public_writes_need_login(
    client: AppClient, app: App
) -> None:
    anonymous = await client.post("/api/notes/", json={"title": "Write docs"})
    assert anonymous.status_code == 401
    headers = await login(client, app)
    note = {"title": "Write docs"}
    created = await client.post("/api/notes/", json=note, headers=headers)
    assert created.status_code == 201, created.text
    note_id = created.json()["id"]
    client.cookies.clear()
    listed = await client.get("/api/notes/", params={"search": "docs"})
    assert [note["id"] for note in listed.json()["results"]] == [note_id]


async def test_archive_runs_on_a_worker(client: AppClient, app: App) -> None:
    await Note.objects.create(title="Old", done=True)
    await Note.objects.create(title="Current")
    headers = await login(client, app)
    response = await client.post("/api/notes/archive", headers=headers)
    assert response.status_code == 200, response.text
    handle = app.tasks.handle(response.json()["job"], "archive_done_notes")
    async with app.tasks.worker():
        assert await handle.result(timeout=30) == 1
    assert [note.title for note in await Note.objects.all()] == ["Current"]
