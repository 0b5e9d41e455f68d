"""Hostile input against every parameter and field of the bookstore API.

Every query parameter (filters, search, ordering, paging) and path parameter in the
bookstore's OpenAPI document, plus the two undocumented actions, and every field of
every write body, gets every value of ``payloads.PAYLOADS``; every write operation
also gets the whole bodies of ``payloads.BODIES``. Each answer must be:

- never a 5xx; an error is JSON with a ``detail`` and names the parameter or field;
- leak-free: no ``LEAK_MARKERS`` (SQL, traceback, driver, URLs) and no secret in the
  response or in any log record emitted meanwhile;
- harmless: no table's row count changes on an error, and a write that succeeds
  stored the value exactly as sent (data, never SQL), within one second (no
  ``pg_sleep`` ran).

Set ``STELLATE_RELIABILITY_FULL=1`` (the ``reliability`` nox session does) to send
every payload; by default each field gets a fixed, representative subset so the
suite stays within seconds.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from payloads import BODIES, LEAK_MARKERS, PAYLOADS

from examples.bookstore.app import create_app
from examples.bookstore.models import ALL_MODELS
from examples.bookstore.seed import seed_demo_data
from stellate.core import App
from stellate.core.storage import FileSystemStorage
from stellate.core.testing import AppClient
from stellate.orm import Database, get_db
from stellate.orm.plugin import apply_migrations
from stellate.orm.testing import create_tables, temporary_database

SECRET = "hostile-input-secret-" + "k" * 40
PASSWORD = "violet tractor under the sea"
FULL = os.environ.get("STELLATE_RELIABILITY_FULL") == "1"
QUICK = {
    "sql-or",
    "sql-drop",
    "sql-sleep",
    "long",
    "nul",
    "invalid-utf8",
    "huge-int",
    "huge-float",
    "object",
    "traversal",
    "header-injection",
}
SELECTED = [p for p in PAYLOADS if FULL or p.name in QUICK]
#: Body fields and auth routes cost more per request (a write, a password hash): CI
#: sends fewer values there, and body values through POST only.
BODY_QUICK = {"sql-drop", "long", "nul", "invalid-utf8", "huge-int", "object"}
BODY_SELECTED = [p for p in PAYLOADS if FULL or p.name in BODY_QUICK]
AUTH_SELECTED = [p for p in BODY_SELECTED if FULL or p.name != "huge-int"]
ERROR_TYPES = ("application/json", "application/problem+json")
WRITES = ("post", "put", "patch")
BODY_WRITES = WRITES if FULL else ("post",)
#: `pg_sleep(3)` in the `sql-sleep` payload would make an answer take at least this long.
SLEPT = 3.0


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from stellate.tasks.embedded import start_embedded_redis, stop_embedded_redis

    server, embedded_url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    yield embedded_url
    stop_embedded_redis(server)


class LogRecords(logging.Handler):
    """Every log record emitted while installed, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[LogRecords]:
    handler = LogRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
async def client(db: Database, redis_url: str) -> AsyncIterator[AppClient]:
    await create_tables(*ALL_MODELS)
    app = create_app(
        {
            "env": "test",
            "secret_key": SECRET,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {"redis_url": redis_url, "tasks_prefix": f"hostile-{uuid.uuid4().hex}:"},
        }
    )
    async with AppClient(app) as http:
        await http.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        reviewer = await http.app.auth.users.create_user(  # type: ignore[attr-defined]
            f"reviewer-{uuid.uuid4().hex[:6]}", PASSWORD
        )
        await seed_demo_data(reviewer.id)
        yield http


async def login_staff(client: AppClient) -> dict[str, str]:
    username = f"staff-{uuid.uuid4().hex[:6]}"
    await client.app.auth.users.create_user(username, PASSWORD, is_staff=True)  # type: ignore[attr-defined]
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def row_counts() -> dict[str, int]:
    return {model.__name__: await model.objects.count() for model in ALL_MODELS}


class Verdicts:
    """Collects every violation, so one run reports all of them at once."""

    def __init__(self, logs: LogRecords, *, json_errors: bool = True) -> None:
        self.logs = logs
        #: API errors must be JSON; the admin's are HTML pages.
        self.json_errors = json_errors
        self.problems: list[str] = []
        self.sent = 0

    def check(
        self, what: str, response: httpx.Response, elapsed: float | None, *, names: tuple[str, ...]
    ) -> None:
        self.sent += 1
        status = response.status_code
        text = response.text
        if status >= 500:
            self.problems.append(f"{what}: {status} {text[:300]}")
        if status >= 400 and status != 405 and self.json_errors:
            kind = response.headers.get("content-type", "").split(";")[0]
            if kind not in ERROR_TYPES:
                self.problems.append(f"{what}: {status} error is `{kind}`, not JSON")
            elif "detail" not in response.json():
                self.problems.append(f"{what}: {status} error has no `detail`: {text[:300]}")
            elif (
                status in (400, 422)
                and names
                and not any(n in text for n in names)
                # A body that is not JSON at all has no field to blame.
                and not response.json()["detail"].startswith("Malformed JSON body")
            ):
                self.problems.append(f"{what}: 400 names none of {names}: {text[:300]}")
        for header in ("x-injected", "pwned"):
            if header in response.headers or "pwned" in response.headers.get("set-cookie", ""):
                self.problems.append(f"{what}: response carries an injected header")
        if elapsed is not None and "sql-sleep" in what and elapsed >= SLEPT:
            self.problems.append(f"{what}: took {elapsed:.1f}s (did pg_sleep run?)")
        leaked = [m for m in (*LEAK_MARKERS, SECRET) if m in text]
        if leaked:
            self.problems.append(f"{what}: response leaks {leaked}: {text[:300]}")
        for line in self.logs.lines:
            found = [m for m in (*LEAK_MARKERS, SECRET) if m in line]
            if found:
                self.problems.append(f"{what}: log leaks {found}: {line[:300]}")
        self.logs.lines.clear()

    async def send(
        self,
        client: AppClient,
        what: str,
        method: str,
        url: str,
        *,
        names: tuple[str, ...],
        timed: bool = True,
        **options: Any,
    ) -> httpx.Response | None:
        """Send one request and check it; an exception out of the app counts as a 500."""
        started = time.monotonic()
        try:
            response = await client.request(method, url, **options)
        except Exception as exc:
            self.sent += 1
            self.problems.append(f"{what}: 500 ({type(exc).__name__}: {str(exc)[:200]})")
            self.logs.lines.clear()
            return None
        elapsed = time.monotonic() - started if timed else None
        self.check(what, response, elapsed, names=names)
        return response

    def report(self) -> str:
        shown = "\n".join(f"  - {p}" for p in self.problems[:40])
        more = len(self.problems) - 40
        return f"{len(self.problems)} problem(s) in {self.sent} requests:\n{shown}" + (
            f"\n  ... and {more} more" if more > 0 else ""
        )


async def _spec(client: AppClient) -> dict[str, Any]:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    return spec


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def _query_parameters(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    books_list: list[str] = []
    for method, path, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                yield path, parameter["name"]
                if path == "/api/books/" and method == "get":
                    books_list.append(parameter["name"])
    # The enriched list takes the list's parameters, undocumented.
    for name in books_list:
        yield "/api/books/enriched/", name


async def test_every_query_parameter_refuses_hostile_values(
    client: AppClient, logs: LogRecords
) -> None:
    verdicts = Verdicts(logs)
    spec = await _spec(client)
    before = await row_counts()
    pairs = list(_query_parameters(spec))
    assert len(pairs) > 60, pairs
    for (path, name), payload in itertools.product(pairs, SELECTED):
        what = f"GET {path}?{name}={payload.name}"
        url = f"{path}?{name}={payload.query}"
        response = await verdicts.send(client, what, "GET", url, names=(name,))
        if response is None:
            continue
        if response.status_code == 200 and name not in ("page_size", "cursor", "ordering"):
            # A hostile value that parses (a search text, a country) matches no row.
            results = response.json()["results"]
            if results and payload.name.startswith("sql"):
                verdicts.problems.append(f"GET {path}?{name}={payload.name}: matched rows")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()


async def test_every_path_parameter_refuses_hostile_values(
    client: AppClient, logs: LogRecords
) -> None:
    headers = await login_staff(client)
    verdicts = Verdicts(logs)
    spec = await _spec(client)
    before = await row_counts()
    for (method, path, _), payload in itertools.product(list(_operations(spec)), SELECTED):
        if "{" not in path:
            continue
        name = path[path.index("{") + 1 : path.index("}")]
        url = path.replace("{" + name + "}", payload.query)
        response = await verdicts.send(
            client,
            f"{method.upper()} {path} {name}={payload.name}",
            method.upper(),
            url,
            names=(),
            headers=headers,
            content=b"{}" if method in WRITES else None,
        )
        # An empty segment only meets the router's trailing-slash redirect.
        redirect = payload.name == "empty" and response is not None and response.is_redirect
        if response is not None and response.status_code < 400 and not redirect:
            verdicts.problems.append(f"{method.upper()} {url[:80]}: {response.status_code}")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()


def _schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    ref = schema.get("$ref")
    if ref:
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


_unique = itertools.count(1)


def _valid_body(resource: str, ids: dict[str, int]) -> dict[str, Any]:
    n = next(_unique)
    return {
        "publishers": {"name": f"House {n}", "country": "FR"},
        "authors": {"name": f"Writer {n}", "bio": "b"},
        "categories": {"name": f"Shelf {n}"},
        "tags": {"name": f"tag-{n}"},
        "books": {
            "title": f"Book {n}",
            "isbn": f"{9790000000000 + n}",
            "price": "10.00",
            "pages": 100,
            "author_id": ids["authors"],
            "publisher_id": ids["publishers"],
            "category_id": ids["categories"],
        },
        "reviews": {"book_id": ids["books"], "rating": 4, "body": "ok"},
    }[resource]


def _with_raw(body: dict[str, Any], field: str, raw: bytes) -> bytes:
    marker = "__HOSTILE__"
    encoded = msgspec.json.encode({**body, field: marker})
    return encoded.replace(b'"' + marker.encode() + b'"', raw)


async def _existing_ids(client: AppClient) -> dict[str, int]:
    ids = {}
    for resource in ("publishers", "authors", "categories", "tags", "books", "reviews"):
        ids[resource] = (await client.get(f"/api/{resource}/?page_size=1")).json()["results"][0][
            "id"
        ]
    return ids


async def test_every_body_field_refuses_hostile_values(client: AppClient, logs: LogRecords) -> None:
    headers = await login_staff(client)
    verdicts = Verdicts(logs)
    spec = await _spec(client)
    ids = await _existing_ids(client)
    for method, path, operation in _operations(spec):
        schema = _schema(spec, operation)
        if schema is None or method not in BODY_WRITES:
            continue
        resource = path.split("/")[2]
        url = path.replace("{pk}", str(ids[resource]))
        fields = sorted(schema.get("properties", {}))
        assert fields, (method, path)
        for field, payload in itertools.product(fields, BODY_SELECTED):
            before = await row_counts()
            body = _with_raw(_valid_body(resource, ids), field, payload.json)
            what = f"{method.upper()} {path} {field}={payload.name}"
            response = await verdicts.send(
                client,
                what,
                method.upper(),
                url,
                names=(field,),
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            after = await row_counts()
            if response is None:
                continue
            if response.status_code >= 400 and after != before:
                verdicts.problems.append(f"{what}: {response.status_code} yet rows changed")
            if response.status_code < 300:
                target = {"post": 1}.get(method, 0)
                changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
                if sum(changed.values()) != target:
                    verdicts.problems.append(f"{what}: rows changed by {changed}")
                stored = await _read_back(client, resource, response, url, method)
                sent = msgspec.json.decode(payload.json)
                if field in stored and str(stored[field]) != str(sent) and sent is not None:
                    verdicts.problems.append(f"{what}: stored {str(stored[field])[:60]!r}")
    assert not verdicts.problems, verdicts.report()


async def _read_back(
    client: AppClient, resource: str, response: httpx.Response, url: str, method: str
) -> dict[str, Any]:
    pk = response.json()["id"]
    stored: dict[str, Any] = (await client.get(f"/api/{resource}/{pk}/")).json()
    return stored


async def test_whole_hostile_bodies_are_refused_by_every_write(
    client: AppClient, logs: LogRecords
) -> None:
    headers = await login_staff(client)
    verdicts = Verdicts(logs)
    spec = await _spec(client)
    ids = await _existing_ids(client)
    before = await row_counts()
    writes = [(m, p) for m, p, _ in _operations(spec) if m in BODY_WRITES and p.startswith("/api/")]
    for method, path in writes:
        resource = path.split("/")[2]
        url = path.replace("{pk}", str(ids[resource]))
        first = next(iter(_valid_body(resource, ids)))
        duplicate = msgspec.json.encode(_valid_body(resource, ids))[:-1] + (
            b', "' + first.encode() + b'": ' + b'{"$ne": null}}'
        )
        oversized = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
        for name, body in (*BODIES, ("duplicate-key", duplicate), ("oversized", oversized)):
            for kind in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
                if kind != "application/json" and name not in ("not-json", "scalar"):
                    continue
                what = f"{method.upper()} {path} body={name} ({kind})"
                response = await verdicts.send(
                    client,
                    what,
                    method.upper(),
                    url,
                    names=(),
                    content=body,
                    headers={**headers, "Content-Type": kind},
                )
                if response is None:
                    continue
                if response.status_code < 400 and name != "duplicate-key":
                    verdicts.problems.append(f"{what}: accepted with {response.status_code}")
                if name == "oversized" and response.status_code != 413:
                    verdicts.problems.append(f"{what}: {response.status_code}, not 413")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()


async def _user_count() -> int:
    count: int = await get_db().fetchval("SELECT count(*) FROM stellate_users")
    return count


AUTH_BODIES = {
    "/auth/login": {"username": "editor", "password": "nope"},
    "/auth/password-reset": {"email": "a@example.com"},
    "/auth/password-reset/confirm": {"token": "t", "new_password": "a long new password 1"},
    "/auth/verify-email/confirm": {"token": "t"},
}


async def test_auth_routes_refuse_hostile_values(client: AppClient, logs: LogRecords) -> None:
    verdicts = Verdicts(logs)
    users_before = await _user_count()
    for (path, body), payload in itertools.product(AUTH_BODIES.items(), AUTH_SELECTED):
        for field in body:
            await client.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
            what = f"POST {path} {field}={payload.name}"
            response = await verdicts.send(
                client,
                what,
                "POST",
                path,
                names=(),
                # Password hashing, not the payload, sets these routes' pace.
                timed=False,
                content=_with_raw(body, field, payload.json),
                headers={"Content-Type": "application/json"},
            )
            if response is not None and response.status_code == 200 and path == "/auth/login":
                verdicts.problems.append(f"{what}: logged in")
    assert await _user_count() == users_before
    assert not verdicts.problems, verdicts.report()


async def test_static_files_and_storage_names_stay_inside_their_folder(tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    (public / "ok.txt").write_text("fine")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    app = App(plugins=[])
    app.mount_static("/static", public)
    async with AppClient(app) as http:
        assert (await http.get("/static/ok.txt")).text == "fine"
        for path in (
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/..%2fsecret.txt",
            "/static/%2e%2e%2fsecret.txt",
            "/static/....//secret.txt",
            "/static/%252e%252e/secret.txt",
            "/static/ok.txt%00.png",
            "/static//etc/passwd",
            f"/static/{tmp_path}/secret.txt",
        ):
            response = await http.get(path)
            assert response.status_code in (400, 404), (path, response.status_code)
            assert "TOP-SECRET" not in response.text, path
            assert "root:" not in response.text, path
    storage = FileSystemStorage(public)
    for name in ("../secret.txt", "/etc/passwd", "a/../../secret.txt", "a\x00b", "..\\x", "."):
        with pytest.raises(ValueError, match="`"):
            await storage.save(name, b"x")
    assert (tmp_path / "secret.txt").read_text() == "TOP-SECRET"


async def test_tasks_demo_orders_refuse_hostile_values(redis_url: str, logs: LogRecords) -> None:
    from examples.tasks_demo.app import MIGRATIONS_DIR

    # The demo's outbox relay runs beside requests: it needs a database that commits,
    # not the one rolled-back test transaction every task would share.
    async with temporary_database() as database:
        assert database.url is not None
        await apply_migrations(database.url, MIGRATIONS_DIR)
        await _tasks_demo_orders(redis_url, logs)


async def _tasks_demo_orders(redis_url: str, logs: LogRecords) -> None:
    from examples.tasks_demo.app import create_app as create_tasks_demo
    from examples.tasks_demo.models import Order

    app = create_tasks_demo(
        {
            "env": "test",
            "secret_key": SECRET,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {"redis_url": redis_url, "tasks_prefix": f"hostile-{uuid.uuid4().hex}:"},
        }
    )
    verdicts = Verdicts(logs)
    async with AppClient(app) as client:
        await client.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        username = f"buyer-{uuid.uuid4().hex[:6]}"
        await client.app.auth.users.create_user(username, PASSWORD)  # type: ignore[attr-defined]
        login = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
        headers = {"X-CSRF-Token": login.json()["csrf_token"], "Content-Type": "application/json"}
        placed = await client.post("/orders", json={"item": "kettle"}, headers=headers)
        assert placed.status_code == 201, placed.text
        order = placed.json()["id"]
        before = await Order.objects.count()
        for payload in BODY_SELECTED:
            for field in ("item", "quantity"):
                body = _with_raw({"item": "teapot", "quantity": 1}, field, payload.json)
                response = await verdicts.send(
                    client,
                    f"POST /orders {field}={payload.name}",
                    "POST",
                    "/orders",
                    names=(),
                    content=body,
                    headers=headers,
                )
                if response is not None and response.status_code == 201:
                    stored = response.json()[field]
                    if str(stored) != str(msgspec.json.decode(payload.json)):
                        verdicts.problems.append(f"POST /orders {field}={payload.name}: stored")
                    before += 1
            for method, url in (
                ("GET", f"/orders/{payload.query}"),
                ("POST", f"/orders/{payload.query}/ship"),
                ("POST", f"/orders/{order}/ship?carrier_failures={payload.query}"),
            ):
                response = await verdicts.send(
                    client, f"{method} {url[:60]}", method, url, names=(), headers=headers
                )
                if response is not None and response.status_code < 400 and "carrier" not in url:
                    verdicts.problems.append(f"{method} {url[:60]}: {response.status_code}")
        assert await Order.objects.count() == before
    assert not verdicts.problems, verdicts.report()


async def test_admin_pages_refuse_hostile_values(client: AppClient, logs: LogRecords) -> None:
    """The admin's change lists (search, ordering, cursors, filters), object pages,
    autocomplete and static files, as a superuser: no 5xx, no leak, nothing written.
    Its pages are HTML, so errors are checked for status and leaks, not JSON; an
    object page of an id the primary key cannot hold is a 404. The forms get hostile
    POSTs in tests/admin/test_admin_hostile.py."""
    username = f"root-{uuid.uuid4().hex[:6]}"
    await client.app.auth.users.create_user(  # type: ignore[attr-defined]
        username, PASSWORD, is_staff=True, is_superuser=True
    )
    login = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    verdicts = Verdicts(logs, json_errors=False)
    before = await row_counts()
    admins = client.app.admin.model_admins  # type: ignore[attr-defined]
    assert admins
    # CI: two models and the body subset of payloads; in full: every model and payload.
    for admin, payload in itertools.product(
        admins if FULL else admins[:2], SELECTED if FULL else BODY_SELECTED
    ):
        base = admin.url
        params = ["q", "o", "after", "before"]
        for name in getattr(admin, "list_filter", ()) or ():
            params += [name, f"{name}__isnull", f"{name}__gte", f"{name}__lte"]
        urls = [f"{base}?{name}={payload.query}" for name in params]
        urls += [
            f"{base}{payload.query}/change/",
            f"{base}{payload.query}/history/",
            f"{base}{payload.query}/delete/",
            f"{base}autocomplete/?q={payload.query}",
            f"/admin/static/{payload.query}",
        ]
        for url in urls:
            response = await verdicts.send(client, f"GET {url[:90]}", "GET", url, names=())
            # No payload names a stored row or a static file: those pages are 404s.
            not_found = url.endswith(("/change/", "/history/", "/delete/")) or "/static/" in url
            if response is not None and not_found and response.status_code not in (404, 500):
                verdicts.problems.append(f"GET {url[:90]}: {response.status_code}, not 404")
    assert await row_counts() == before
    assert not verdicts.problems, verdicts.report()
