"""Session auth over real HTTP and the real PostgreSQL: cookies, expiry, revocation, fixation."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

import httpx
import pytest
from _auth_support import Clock, QueryLog

from stellate.auth.csrf import CSRF_HEADER, csrf_token
from stellate.auth.principal import Principal
from stellate.auth.security import SecurityEvent, SecurityLog
from stellate.auth.sessions import SessionAuth
from stellate.core import App, HTTPException, Request
from stellate.core.signing import SigningKey, TokenEngine
from stellate.core.testing import AppClient
from stellate.orm.database import Database

#: User ids unique to this run: session records of earlier runs stay in the table.
RUN = secrets.randbelow(10**12) * 1000

KEY_V1 = SigningKey("session-key-v1-" + "x" * 20, version=1)
KEY_V2 = SigningKey("session-key-v2-" + "y" * 20, version=2)


def make_auth(
    db: Database, clock: Clock, *, keys: list[SigningKey] | None = None, **options: object
) -> SessionAuth:
    engine = TokenEngine(keys or [KEY_V1], clock=clock)
    return SessionAuth(
        secret="unused-when-engine-given",
        token_engine=engine,
        database=db,
        clock=clock,
        security_log=SecurityLog(db),
        **options,  # type: ignore[arg-type]
    )


def make_app(auth: SessionAuth) -> App:
    app = App(plugins=[])
    app.use(auth)

    @app.post("/login")
    async def login(request: Request) -> dict[str, object]:
        data = await request.json()
        principal = await auth.login(request, data, groups=data.get("groups", ()))
        return {"user": principal, "csrf_token": csrf_token(request)}

    @app.get("/me")
    async def me(request: Request) -> dict[str, object]:
        user = request.user
        return {"user": user, "is_dict": isinstance(user, dict)}

    @app.post("/write")
    async def write(request: Request) -> dict[str, object]:
        user = request.user
        if user is None or not isinstance(user, dict) or "id" not in user:
            raise HTTPException(401, "Authentication required")
        return {"wrote_as": user["id"], "staff": bool(user.get("is_staff"))}

    @app.post("/logout")
    async def logout(request: Request) -> dict[str, bool]:
        return {"ended": await auth.logout(request)}

    @app.post("/logout-everywhere")
    async def everywhere(request: Request) -> dict[str, int]:
        return {"ended": await auth.logout_everywhere(request.user["id"])}

    return app


def cookie(token: str) -> dict[str, str]:
    """A Cookie header carrying ``token`` as the session cookie."""
    return {"cookie": f"stellate_session={token}"}


def set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


async def login(
    client: AppClient, user_id: int, username: str, **extra: object
) -> dict[str, object]:
    response = await client.post("/login", json={"id": user_id, "username": username, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_login_sets_a_hardened_cookie_and_user_is_a_dict(
    auth_db: Database, clock: Clock
) -> None:
    auth = make_auth(auth_db, clock)
    async with AppClient(make_app(auth)) as client:
        body = await login(client, RUN + 101, "alice", is_staff=True, groups=["editors"])
        assert body["user"] == {
            "id": RUN + 101,
            "username": "alice",
            "is_staff": True,
            "is_superuser": False,
            "groups": ["editors"],
            "permissions": [],
        }
        me = (await client.get("/me")).json()
        assert me == {"user": body["user"], "is_dict": True}

    cookies = set_cookies(await _login_response(auth, RUN + 102, "bob"))
    session = cookies["stellate_session"]["stellate_session"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert session["secure"] == ""  # development: no Secure flag
    assert session["path"] == "/"
    csrf = cookies["csrftoken"]["csrftoken"]
    assert csrf["httponly"] == ""  # scripts read it to send X-CSRF-Token


async def _login_response(auth: SessionAuth, user_id: int, username: str) -> httpx.Response:
    async with AppClient(make_app(auth)) as client:
        return await client.post("/login", json={"id": user_id, "username": username})


async def test_secure_flag_in_production(
    auth_db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STELLATE_ENV", "production")
    monkeypatch.setenv("STELLATE_SECRET_KEY", "k" * 50)
    auth = make_auth(auth_db, clock)
    assert auth.secure is True
    response = await _login_response(auth, RUN + 103, "carol")
    assert "; Secure" in response.headers.get_list("set-cookie")[0]


async def test_principal_is_read_only(auth_db: Database, clock: Clock) -> None:
    principal = Principal(id=1, username="a")
    with pytest.raises(TypeError, match=r"request\.user is read-only"):
        principal["is_staff"] = True
    assert principal.get("is_staff") is False


@pytest.mark.parametrize(
    "forge",
    [
        # A character inside the signature (the last one only carries padding bits).
        lambda token: token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:],
        # A character of the payload.
        lambda token: token[:6] + ("A" if token[6] != "A" else "B") + token[7:],
        lambda token: "9" + token[1:],  # unknown key version
        lambda token: "not-a-token",
    ],
)
async def test_forged_cookie_is_rejected_without_a_query(
    auth_db: Database, clock: Clock, queries: QueryLog, forge: object
) -> None:
    auth = make_auth(auth_db, clock)
    async with AppClient(make_app(auth)) as client:
        await login(client, RUN + 110, "mallory")
        token = client.cookies["stellate_session"]
        client.cookies.clear()
        queries.clear()
        response = await client.get("/me", headers=cookie(forge(token)))  # type: ignore[operator]
        assert response.json()["user"] is None
        assert queries.statements == []
        # The response tells the browser to drop the bad cookie.
        assert 'stellate_session=""' in response.headers["set-cookie"]
        write = await client.post("/write", headers=cookie(forge(token)))  # type: ignore[operator]
        assert write.status_code == 401
        assert queries.statements == []


async def test_cookie_signed_with_another_secret_is_rejected(
    auth_db: Database, clock: Clock, queries: QueryLog
) -> None:
    attacker = make_auth(auth_db, clock, keys=[SigningKey("attacker-key-" + "z" * 20, version=1)])
    async with AppClient(make_app(attacker)) as client:
        await login(client, RUN + 111, "mallory")
        token = client.cookies["stellate_session"]
    victim = make_auth(auth_db, clock)
    async with AppClient(make_app(victim)) as client:
        queries.clear()
        response = await client.get("/me", headers=cookie(token))
        assert response.json()["user"] is None
        assert queries.statements == []


async def test_absolute_and_idle_expiry(auth_db: Database, clock: Clock, queries: QueryLog) -> None:
    auth = make_auth(auth_db, clock, idle_timeout=600, absolute_timeout=3600, refresh_interval=60)
    async with AppClient(make_app(auth)) as client:
        await login(client, RUN + 120, "dora")
        # Activity every 500 s keeps the session alive past the idle timeout ...
        for _ in range(6):
            clock.advance(500)
            assert (await client.get("/me")).json()["user"]["id"] == RUN + 120
        # ... but not past the absolute one (3000 s used, 700 s more crosses 3600).
        clock.advance(700)
        queries.clear()
        response = await client.get("/me")
        assert response.json()["user"] is None
        assert queries.statements == []

        await login(client, RUN + 121, "dora2")
        clock.advance(601)  # idle
        queries.clear()
        assert (await client.get("/me")).json()["user"] is None
        assert queries.statements == []


async def test_key_rotation_keeps_old_sessions_until_the_key_is_dropped(
    auth_db: Database, clock: Clock
) -> None:
    old = make_auth(auth_db, clock, keys=[KEY_V1])
    async with AppClient(make_app(old)) as client:
        await login(client, RUN + 130, "erin")
        token = client.cookies["stellate_session"]
    rotated = make_auth(auth_db, clock, keys=[KEY_V2, KEY_V1])
    async with AppClient(make_app(rotated)) as client:
        response = await client.get("/me", headers=cookie(token))
        assert response.json()["user"]["id"] == RUN + 130
    dropped = make_auth(auth_db, clock, keys=[KEY_V2])
    async with AppClient(make_app(dropped)) as client:
        response = await client.get("/me", headers=cookie(token))
        assert response.json()["user"] is None


async def test_authenticated_reads_need_no_query_between_checks(
    auth_db: Database, clock: Clock, queries: QueryLog
) -> None:
    auth = make_auth(auth_db, clock, recheck_interval=10)
    async with AppClient(make_app(auth)) as client:
        await login(client, RUN + 140, "fay")
        queries.clear()
        for _ in range(5):
            assert (await client.get("/me")).json()["user"]["id"] == RUN + 140
        assert queries.statements == []
        clock.advance(11)
        assert (await client.get("/me")).json()["user"]["id"] == RUN + 140
        assert len(queries.statements) == 1
        assert queries.statements[0].startswith("UPDATE stellate_sessions SET last_seen")


async def test_a_client_without_a_cookie_jar_is_checked_once_per_interval(
    auth_db: Database, clock: Clock, queries: QueryLog
) -> None:
    # A script that keeps sending the login cookie never sees the re-issued one: the
    # process remembers its last check instead of querying on every request.
    auth = make_auth(auth_db, clock, recheck_interval=10)
    async with AppClient(make_app(auth)) as client:
        await login(client, RUN + 145, "fern")
        first = client.cookies["stellate_session"]
        client.cookies.clear()
        clock.advance(11)
        queries.clear()
        for _ in range(5):
            assert (await client.get("/me", headers=cookie(first))).json()["user"]["id"]
            client.cookies.clear()
        assert len(queries.statements) == 1
        clock.advance(11)
        assert (await client.get("/me", headers=cookie(first))).json()["user"]
        assert len(queries.statements) == 2


async def test_logout_revokes_the_cookie_everywhere(auth_db: Database, clock: Clock) -> None:
    auth = make_auth(auth_db, clock, recheck_interval=10)
    other_worker = make_auth(auth_db, clock, recheck_interval=10)
    async with AppClient(make_app(auth)) as client, AppClient(make_app(other_worker)) as other:
        body = await login(client, RUN + 150, "gus")
        stolen = client.cookies["stellate_session"]
        headers = {CSRF_HEADER: str(body["csrf_token"])}
        assert (await other.get("/me", headers=cookie(stolen))).json()["user"]
        logout = await client.post("/logout", headers=headers)
        assert logout.json() == {"ended": True}
        assert "stellate_session" not in client.cookies

        # The worker that logged out knows at once, even for reads.
        assert (await client.get("/me", headers=cookie(stolen))).json()["user"] is None
        # Another worker refuses writes at once (unsafe requests always check) ...
        write = await other.post("/write", headers={**cookie(stolen), **headers})
        assert write.status_code == 401
        # ... and reads once its recheck interval has passed.
        other2 = make_auth(auth_db, clock, recheck_interval=10)
        async with AppClient(make_app(other2)) as third:
            clock.advance(11)
            assert (await third.get("/me", headers=cookie(stolen))).json()["user"] is None
    events = await SecurityLog(auth_db).get_for_user(RUN + 150)
    assert SecurityEvent.SESSION_FIXATION_ATTEMPT in {event.event for event in events}


async def test_logout_everywhere(auth_db: Database, clock: Clock) -> None:
    auth = make_auth(auth_db, clock)
    async with (
        AppClient(make_app(auth)) as laptop,
        AppClient(make_app(make_auth(auth_db, clock))) as phone,
    ):
        laptop_body = await login(laptop, RUN + 160, "hana")
        phone_body = await login(phone, RUN + 160, "hana")
        response = await laptop.post(
            "/logout-everywhere", headers={CSRF_HEADER: str(laptop_body["csrf_token"])}
        )
        assert response.json() == {"ended": 2}
        write = await phone.post("/write", headers={CSRF_HEADER: str(phone_body["csrf_token"])})
        assert write.status_code == 401


async def test_login_rotates_the_session_id(auth_db: Database, clock: Clock) -> None:
    auth = make_auth(auth_db, clock)
    async with AppClient(make_app(auth)) as client:
        first = await login(client, RUN + 170, "ivan")
        planted = client.cookies["stellate_session"]
        # Logging in again (as the same or another user) ends the previous session.
        await client.post(
            "/login",
            json={"id": RUN + 171, "username": "ivy"},
            headers={CSRF_HEADER: str(first["csrf_token"])},
        )
        fresh = client.cookies["stellate_session"]
        assert fresh != planted
        assert auth.engine.decode_data(fresh)[0] != auth.engine.decode_data(planted)[0]
        client.cookies.clear()
        assert (await client.get("/me", headers=cookie(planted))).json()["user"] is None
        assert (await client.get("/me", headers=cookie(fresh))).json()["user"]["id"] == RUN + 171


def test_configuration_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="needs `token_engine=TokenEngine"):
        SessionAuth()
    with pytest.raises(ValueError, match="`idle_timeout` must be positive seconds, got `0`"):
        SessionAuth(secret="s", idle_timeout=0)
    with pytest.raises(ValueError, match="same_site='none'` requires `secure=True`"):
        SessionAuth(secret="s", same_site="none", secure=False)
