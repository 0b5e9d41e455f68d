"""CSRF protection of cookie-authenticated unsafe requests, over real HTTP."""

from __future__ import annotations

import secrets

import pytest
from _auth_support import Clock

from stellate.auth.csrf import CSRF_FIELD, CSRF_HEADER, csrf_input, csrf_token
from stellate.auth.security import SecurityEvent, SecurityLog
from stellate.auth.sessions import SessionAuth
from stellate.core import App, Request
from stellate.core.signing import SigningKey, TokenEngine
from stellate.core.testing import AppClient
from stellate.orm.database import Database

#: User ids unique to this run: session records of earlier runs stay in the table.
RUN = secrets.randbelow(10**12) * 1000

KEY = SigningKey("csrf-tests-key-" + "q" * 24, version=1)


def make_app(db: Database, clock: Clock, **options: object) -> tuple[App, SessionAuth]:
    auth = SessionAuth(
        token_engine=TokenEngine([KEY], clock=clock),
        database=db,
        clock=clock,
        security_log=SecurityLog(db),
        **options,  # type: ignore[arg-type]
    )
    app = App(plugins=[])
    app.use(auth)

    @app.post("/login")
    async def login(request: Request) -> dict[str, object]:
        data = await request.json()
        await auth.login(request, data)
        return {"csrf_token": csrf_token(request)}

    @app.get("/form")
    async def form(request: Request) -> str:
        return csrf_input(request)

    @app.post("/transfer")
    async def transfer(request: Request) -> dict[str, object]:
        amount = None
        if request.headers.get("content-type", "").startswith(("application/x-www", "multipart")):
            amount = (await request.form()).get("amount")
        return {"ok": True, "user": request.user["id"], "amount": amount}

    @app.get("/csrf")
    async def fresh_token(request: Request) -> dict[str, str]:
        return {"csrf_token": csrf_token(request)}

    return app, auth


async def logged_in(client: AppClient, user_id: int) -> str:
    response = await client.post("/login", json={"id": user_id, "username": f"u{user_id}"})
    assert response.status_code == 200
    token: str = response.json()["csrf_token"]
    return token


async def test_unsafe_request_without_token_is_refused_with_the_fix(
    auth_db: Database, clock: Clock
) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        await logged_in(client, RUN + 201)
        response = await client.post("/transfer")
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "csrf_missing"
        assert "`X-CSRF-Token` header" in body["detail"]
        assert "`csrf_token` form field" in body["detail"]
    events = await SecurityLog(auth_db).get_for_user(RUN + 201)
    assert any(
        e.event is SecurityEvent.CSRF_VIOLATION and e.detail == "reason=missing" for e in events
    )


async def test_valid_header_token_passes(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        token = await logged_in(client, RUN + 202)
        response = await client.post("/transfer", headers={CSRF_HEADER: token})
        assert response.status_code == 200
        assert response.json()["user"] == RUN + 202
        # The cookie the login set carries a token too (for single-page apps).
        cookie_token = client.cookies["csrftoken"]
        assert (
            await client.post("/transfer", headers={CSRF_HEADER: cookie_token})
        ).status_code == 200
        # A token fetched later works as well, and each fetch differs (BREACH).
        again = (await client.get("/csrf")).json()["csrf_token"]
        assert again != token
        assert (await client.post("/transfer", headers={CSRF_HEADER: again})).status_code == 200


@pytest.mark.parametrize("bad", ["", "garbage", "1.abc.def.ghi"])
async def test_wrong_token_is_refused(auth_db: Database, clock: Clock, bad: str) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        token = await logged_in(client, RUN + 203)
        tampered = bad or token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
        response = await client.post("/transfer", headers={CSRF_HEADER: tampered})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_invalid"


async def test_token_of_another_session_is_refused(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as attacker, AppClient(app) as victim:
        attacker_token = await logged_in(attacker, RUN + 204)
        await logged_in(victim, RUN + 205)
        response = await victim.post("/transfer", headers={CSRF_HEADER: attacker_token})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_invalid"


async def test_token_of_the_previous_session_dies_at_login(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        old = await logged_in(client, RUN + 206)
        response = await client.post(
            "/login", json={"id": RUN + 206, "username": "u206"}, headers={CSRF_HEADER: old}
        )
        new = response.json()["csrf_token"]
        assert (await client.post("/transfer", headers={CSRF_HEADER: old})).status_code == 403
        assert (await client.post("/transfer", headers={CSRF_HEADER: new})).status_code == 200


async def test_form_field_token_and_the_handler_still_reads_the_form(
    auth_db: Database, clock: Clock
) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        await logged_in(client, RUN + 207)
        html = (await client.get("/form")).text
        assert html.startswith(f'<input type="hidden" name="{CSRF_FIELD}" value="')
        token = html.split('value="', 1)[1].split('"', 1)[0]
        ok = await client.post("/transfer", data={CSRF_FIELD: token, "amount": "12"})
        assert ok.status_code == 200
        assert ok.json()["amount"] == "12"
        multipart = await client.post(
            "/transfer",
            data={CSRF_FIELD: token, "amount": "13"},
            files={"receipt": ("r.txt", b"hello", "text/plain")},
        )
        assert multipart.status_code == 200
        assert multipart.json()["amount"] == "13"
        missing = await client.post("/transfer", data={"amount": "14"})
        assert missing.status_code == 403


async def test_foreign_origin_is_refused_even_with_a_token(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock, trusted_origins=["https://admin.example.com"])
    async with AppClient(app) as client:
        token = await logged_in(client, RUN + 208)
        headers = {CSRF_HEADER: token, "origin": "https://evil.example"}
        response = await client.post("/transfer", headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_origin"
        referer = {CSRF_HEADER: token, "referer": "https://evil.example/page"}
        assert (await client.post("/transfer", headers=referer)).status_code == 403
        own = {CSRF_HEADER: token, "origin": "http://testserver"}
        assert (await client.post("/transfer", headers=own)).status_code == 200
        trusted = {CSRF_HEADER: token, "origin": "https://admin.example.com"}
        assert (await client.post("/transfer", headers=trusted)).status_code == 200


async def test_safe_methods_anonymous_and_bearer_requests_are_exempt(
    auth_db: Database, clock: Clock
) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app) as client:
        # Anonymous: no cookie session, nothing a forged request could ride on.
        assert (
            await client.post("/login", json={"id": RUN + 209, "username": "u209"})
        ).status_code == 200
        assert (await client.get("/csrf")).status_code == 200
        bearer = await client.post("/transfer", headers={"authorization": "Bearer sk_x"})
        assert bearer.status_code == 200
        api_key = await client.post("/transfer", headers={"x-api-key": "sk_x"})
        assert api_key.status_code == 200


async def test_expired_token_is_refused(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock, idle_timeout=10 * 86400, refresh_interval=3600)
    async with AppClient(app) as client:
        token = await logged_in(client, RUN + 210)
        clock.advance(13 * 3600)  # tokens live 12 hours
        response = await client.post("/transfer", headers={CSRF_HEADER: token})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_invalid"


async def test_csrf_token_without_session_explains(auth_db: Database, clock: Clock) -> None:
    app, _ = make_app(auth_db, clock)
    async with AppClient(app, raise_app_exceptions=True) as client:
        with pytest.raises(RuntimeError, match="needs a logged-in session"):
            await client.get("/csrf")
