"""The App over real HTTP: routing, responses, errors, middleware, lifespan, health."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from starlette.exceptions import HTTPException as StarletteHTTPException

from stellate.core import (
    App,
    HTTPException,
    ImproperlyConfigured,
    Request,
    Response,
    StartupError,
)
from stellate.core.testing import AppClient


class Book(msgspec.Struct):
    id: int
    title: str


class Tagged:
    def __init__(self, value: int) -> None:
        self.value = value

    def __json__(self) -> dict[str, int]:
        return {"tagged": self.value}


def build_app(**kwargs: Any) -> App:
    app = App(**kwargs)

    @app.get("/items/{item_id:int}")
    async def item(request: Request, item_id: int) -> dict[str, Any]:
        return {"id": item_id, "q": request.query("q"), "page": request.query("page", "1")}

    @app.get("/list")
    async def listing(request: Request) -> list[int]:
        return [1, 2, 3]

    @app.get("/struct")
    async def struct(request: Request) -> Book:
        return Book(id=1, title="Dune")

    @app.get("/custom")
    async def custom(request: Request) -> Tagged:
        return Tagged(7)

    @app.get("/text")
    def text(request: Request) -> str:  # sync handlers run in a thread
        return "plain"

    @app.delete("/items/{item_id:int}")
    async def remove(request: Request, item_id: int) -> None:
        return None

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response.json(await request.json(), status=201)

    @app.post("/books")
    async def create_book(request: Request) -> Book:
        return await request.json(Book)

    @app.get("/raw")
    async def raw(request: Request) -> Response:
        return Response(body=b'{"a":1}', content_type="application/json")

    @app.get("/missing")
    async def missing(request: Request) -> None:
        raise HTTPException(404, "Book not found")

    @app.get("/fields")
    async def fields(request: Request) -> None:
        raise HTTPException(400, {"title": ["required"]}, headers={"X-Why": "fields"})

    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise ValueError("kaboom secret=123")

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        files = await request.files()
        form = await request.form()
        doc = files["document"]
        return {"title": form.get("title", "Untitled"), "name": doc.filename, "size": doc.size}

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {"user": request.user}

    return app


@pytest.fixture
async def client() -> Any:
    async with AppClient(build_app()) as http:
        yield http


async def test_path_params_and_query(client: AppClient) -> None:
    response = await client.get("/items/42?q=dune")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 42, "q": "dune", "page": "1"}
    assert (await client.get("/items/abc")).status_code == 404


async def test_return_types(client: AppClient) -> None:
    assert (await client.get("/list")).json() == [1, 2, 3]
    assert (await client.get("/struct")).json() == {"id": 1, "title": "Dune"}
    assert (await client.get("/custom")).json() == {"tagged": 7}
    text = await client.get("/text")
    assert (text.text, text.headers["content-type"]) == ("plain", "text/plain; charset=utf-8")
    deleted = await client.delete("/items/1")
    assert (deleted.status_code, deleted.content) == (204, b"")
    raw = await client.get("/raw")
    assert (raw.json(), raw.headers["content-type"]) == ({"a": 1}, "application/json")


async def test_json_body_round_trip_and_errors(client: AppClient) -> None:
    created = await client.post("/echo", content=b'{"x": [1, 2]}')
    assert (created.status_code, created.json()) == (201, {"x": [1, 2]})
    malformed = await client.post("/echo", content=b'{"x": ')
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("Malformed JSON body")
    empty = await client.post("/echo", content=b"")
    assert (empty.status_code, empty.json()["detail"]) == (
        400,
        "Request body is empty: send a JSON document",
    )
    wrong = await client.post("/books", json={"id": "one", "title": "x"})
    assert wrong.status_code == 422
    assert "$.id" in wrong.json()["detail"]


async def test_http_exceptions_render_as_json(client: AppClient) -> None:
    missing = await client.get("/missing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Book not found"})
    fields = await client.get("/fields")
    assert fields.json() == {"detail": {"title": ["required"]}}
    assert fields.headers["x-why"] == "fields"
    no_route = await client.get("/nowhere")
    assert (no_route.status_code, no_route.json()) == (404, {"detail": "Not Found"})
    wrong_method = await client.put("/list")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"detail": "Method Not Allowed"}


async def test_production_error_leaks_nothing() -> None:
    app = build_app()
    async with AppClient(app, raise_app_exceptions=False) as http:
        response = await http.get("/boom", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "kaboom" not in response.text


async def test_debug_errors_json_for_api_and_html_for_browsers() -> None:
    app = build_app(debug=True)
    async with AppClient(app, raise_app_exceptions=False) as http:
        api = await http.get("/boom", headers={"accept": "application/json"})
        page = await http.get("/boom", headers={"accept": "text/html"})
    assert api.status_code == 500
    assert api.json()["exception"] == "ValueError: kaboom secret=123"
    assert any("raise ValueError" in line for line in api.json()["traceback"])
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "ValueError: kaboom" in page.text


async def test_custom_server_error_handler_is_used() -> None:
    app = build_app()

    async def handler(request: Any, exc: Exception) -> Response:
        return Response.json({"oops": type(exc).__name__}, status=500)

    app.add_exception_handler(Exception, handler)
    async with AppClient(app, raise_app_exceptions=False) as http:
        response = await http.get("/boom")
    assert response.json() == {"oops": "ValueError"}


async def test_multipart_form_and_files(client: AppClient) -> None:
    response = await client.post(
        "/upload",
        data={"title": "Report"},
        files={"document": ("report.pdf", b"%PDF-1.7 data", "application/pdf")},
    )
    assert response.json() == {"title": "Report", "name": "report.pdf", "size": 13}


async def test_user_is_none_without_auth(client: AppClient) -> None:
    assert (await client.get("/whoami")).json() == {"user": None}


async def test_middleware_instance_with_wrap_and_class() -> None:
    app = build_app()
    order: list[str] = []

    class Outer:
        def __init__(self, inner: Any, label: str) -> None:
            self.inner, self.label = inner, label

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            order.append(self.label)
            await self.inner(scope, receive, send)

    class UserSetter:
        def wrap(self, inner: Any) -> Any:
            async def asgi(scope: Any, receive: Any, send: Any) -> None:
                order.append("user")
                scope["user"] = {"id": 1, "is_staff": True}
                await inner(scope, receive, send)

            return asgi

    app.use(Outer, label="outer")
    app.use(UserSetter())
    async with AppClient(app) as http:
        response = await http.get("/whoami")
    assert response.json() == {"user": {"id": 1, "is_staff": True}}
    assert order == ["outer", "user"]


async def test_lifespan_hooks_and_unwind_on_failure() -> None:
    events: list[str] = []
    app = App()

    @app.on_startup
    async def open_pool() -> None:
        events.append("open")

    @app.on_shutdown
    async def close_pool() -> None:
        events.append("close")

    @app.on_startup
    def fail() -> None:
        events.append("fail")
        raise RuntimeError("cannot reach redis")

    with pytest.raises(RuntimeError, match="cannot reach redis"):
        async with AppClient(app):
            pass
    assert events == ["open", "fail", "close"]


async def test_add_lifespan_context() -> None:
    import contextlib

    events: list[str] = []
    app = App()

    @app.add_lifespan
    @contextlib.asynccontextmanager
    async def resource(the_app: App) -> Any:
        events.append("enter")
        yield
        events.append("exit")

    async with AppClient(app):
        assert events == ["enter"]
    assert events == ["enter", "exit"]


async def test_registrations_are_refused_after_start() -> None:
    app = build_app()
    async with AppClient(app):
        with pytest.raises(RuntimeError, match="after the app has started"):
            app.add_route("/late", lambda request: None)
        with pytest.raises(RuntimeError, match="after the app has started"):
            app.use(object)


def test_duplicate_route_in_app_code_raises_at_once() -> None:
    app = build_app()
    with pytest.raises(ImproperlyConfigured, match="Route GET `/list` is registered by both"):

        @app.get("/list")
        async def again(request: Request) -> None:
            return None


async def test_health_reports_each_check(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    state = {"db": True}

    async def database() -> None:
        if not state["db"]:
            raise ConnectionError("Connect call failed ('10.0.0.7', 6543) for db-primary.internal")

    async def cache() -> None:
        return None

    app.add_health_check("database", database)
    app.add_health_check("cache", cache)
    app.mount_health()
    async with AppClient(app) as http:
        healthy = await http.get("/health")
        state["db"] = False
        sick = await http.get("/health")
    assert (healthy.status_code, healthy.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "cache": "ok"}},
    )
    assert sick.status_code == 503
    # The public answer names the check and the error type, never the host or port ...
    assert sick.json()["checks"]["database"] == "error: ConnectionError"
    for secret in ("10.0.0.7", "6543", "db-primary"):
        assert secret not in sick.text
    # ... which the operator finds in the log.
    assert any(
        "Health check `database` failed" in r.getMessage() and "10.0.0.7" in r.getMessage()
        for r in caplog.records
    )


async def test_include_with_prefix_and_mount() -> None:
    from starlette.routing import Route

    from stellate.core.responses import JSONResponse

    async def ping(request: Any) -> JSONResponse:
        return JSONResponse({"pong": True})

    class Router:
        routes = (Route("/ping", ping),)

    app = App()
    app.include(Router(), prefix="/api")

    @app.get("/api/later/{n:int}")
    async def later(request: Request, n: int) -> dict[str, int]:
        return {"later": n}

    with pytest.raises(ImproperlyConfigured, match="Route GET `/api/ping` is registered by both"):
        app.include(Router(), prefix="/api/")
    sub = App()
    sub.add_route("/inner", lambda request: {"inner": True}, methods=["GET"])
    app.mount("/sub", sub)
    async with AppClient(app) as http:
        assert (await http.get("/api/ping")).json() == {"pong": True}
        assert (await http.get("/api/later/3")).json() == {"later": 3}
        assert (await http.get("/ping")).status_code == 404
        assert (await http.get("/sub/inner")).json() == {"inner": True}


async def test_static_files(tmp_path: Any) -> None:
    (tmp_path / "hello.txt").write_text("static hello")
    app = App()
    app.mount_static("/static", tmp_path)
    async with AppClient(app) as http:
        assert (await http.get("/static/hello.txt")).text == "static hello"
        assert (await http.get("/static/../pyproject.toml")).status_code == 404


def test_extension_errors_name_the_plugin() -> None:
    app = App()
    with pytest.raises(AttributeError, match=r"`app.db` is provided by the `orm` plugin"):
        _ = app.db
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = app.nothing_here
    with pytest.raises(ImproperlyConfigured, match="is an App attribute"):
        app.add_extension("routes", 1)


def test_production_refuses_missing_secret_and_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_ENV", "production")
    monkeypatch.setenv("STELLATE_DEBUG", "true")
    with pytest.raises(StartupError) as info:
        App()
    text = str(info.value)
    assert "STELLATE_SECRET_KEY is not set" in text
    assert "STELLATE_DEBUG is on in production" in text
    monkeypatch.setenv("STELLATE_DEBUG", "false")
    monkeypatch.setenv("STELLATE_SECRET_KEY", "s" * 50)
    assert App().settings.is_production


def test_starlette_http_exception_is_the_base() -> None:
    assert issubclass(HTTPException, StarletteHTTPException)
    assert HTTPException(418).detail == "I'm a Teapot"
