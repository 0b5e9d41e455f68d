"""Auth & security guide: login, guards, CSRF, permissions, API keys, password rules."""

from __future__ import annotations

from stellate.auth import (
    PasswordValidationError,
    permission_required,
    require_auth,
    staff_required,
    validate_password,
)
from stellate.core import App, Request
from stellate.core.testing import AppClient

PASSWORD = "correct horse battery staple"

# --8<-- [start:app]
app = App(plugins=["orm", "auth"])  # STELLATE_SECRET_KEY signs the session cookies


@app.get("/api/profile")
async def profile(request: Request) -> dict[str, object]:
    user = require_auth(request)  # 401 when nobody is logged in
    return {"id": user["id"], "username": user["username"]}


@app.post("/api/reports")
@staff_required  # 401 anonymous, 403 not staff
async def create_report(request: Request) -> dict[str, bool]:
    return {"created": True}


@app.post("/api/books/{book_id:int}/publish")
@permission_required("books.publish_book")
async def publish(request: Request, book_id: int) -> dict[str, int]:
    return {"published": book_id}


# --8<-- [end:app]


async def main() -> None:
    async with AppClient(app) as client:
        # --8<-- [start:flow]
        users = app.auth.users
        editor = await users.create_user("editor", PASSWORD, email="editor@example.com")
        await users.create_user("boss", PASSWORD, is_staff=True)
        await users.grant("books.publish_book", user_id=editor.id)

        assert (await client.get("/api/profile")).status_code == 401
        login = await client.post("/auth/login", json={"username": "editor", "password": PASSWORD})
        assert login.status_code == 200
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert (await client.get("/api/profile")).json()["username"] == "editor"

        # Unsafe requests with the session cookie need the CSRF token.
        assert (await client.post("/api/books/7/publish")).status_code == 403
        published = await client.post("/api/books/7/publish", headers=csrf)
        assert published.json() == {"published": 7}
        assert (await client.post("/api/reports", headers=csrf)).status_code == 403  # not staff

        # API keys: the raw key is shown once; the table keeps a hash.
        generated = await app.auth.api_keys.generate(user_id=editor.id, name="ci")
        client.cookies.clear()
        by_key = await client.get("/api/profile", headers={"X-API-Key": generated.raw_key})
        assert by_key.json()["username"] == "editor"
        forged = await client.get("/api/profile", headers={"X-API-Key": generated.raw_key + "x"})
        assert forged.status_code == 401

        # Wrong passwords are refused the same way whether or not the user exists.
        wrong = await client.post("/auth/login", json={"username": "editor", "password": "nope"})
        assert wrong.status_code == 401
        # --8<-- [end:flow]

    # --8<-- [start:passwords]
    try:
        validate_password("editor2026", user_attributes={"username": "editor"})
    except PasswordValidationError as exc:
        assert any("username" in message for message in exc.messages)
    # --8<-- [end:passwords]
