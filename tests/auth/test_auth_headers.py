"""Security headers and the CORS allowlist of the auth plugin, over HTTP."""

from __future__ import annotations

import pytest
from test_auth_flows import SETTINGS

from stellate.auth import cors_middleware, csp_nonce
from stellate.core import App, Request, Response
from stellate.core.testing import AppClient


def make_app(**auth: object) -> App:
    settings = {**SETTINGS, "auth": {**SETTINGS["auth"], **auth}}  # type: ignore[dict-item]
    app = App(plugins=["orm", "auth"], settings=settings)

    @app.get("/page")
    async def page(request: Request) -> Response:
        nonce = csp_nonce(request)
        return Response(f'<script nonce="{nonce}">1</script>', media_type="text/html")

    @app.get("/framed")
    async def framed(request: Request) -> Response:
        return Response("ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    return app


async def test_default_headers_and_a_fresh_nonce_per_request() -> None:
    async with AppClient(make_app()) as client:
        first = await client.get("/page")
        second = await client.get("/page")
    for response in (first, second):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in response.headers  # not production
        nonce = response.text.split('nonce="', 1)[1].split('"', 1)[0]
        assert f"script-src 'self' 'nonce-{nonce}'" in response.headers["content-security-policy"]
    assert first.text != second.text


async def test_handler_headers_win_and_errors_get_headers_too() -> None:
    async with AppClient(make_app()) as client:
        framed = await client.get("/framed")
        missing = await client.get("/nowhere")
    assert framed.headers["x-frame-options"] == "SAMEORIGIN"
    assert missing.status_code == 404
    assert missing.headers["x-content-type-options"] == "nosniff"


async def test_hsts_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_ENV", "production")
    async with AppClient(make_app()) as client:
        response = await client.get("/page")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_cors_allows_only_listed_origins() -> None:
    app = make_app(cors_origins=["https://app.example.com"])
    async with AppClient(app) as client:
        allowed = await client.options(
            "/auth/login",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-CSRF-Token",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        refused = await client.options(
            "/auth/login",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


@pytest.mark.parametrize(
    ("origin", "message"),
    [("*", "cannot contain `\\*`"), ("https://app.example.com/", "without a path")],
)
def test_cors_configuration_errors(origin: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cors_middleware([origin])


async def test_csp_nonce_without_the_middleware_explains() -> None:
    app = App(plugins=[])

    @app.get("/page")
    async def page(request: Request) -> str:
        return csp_nonce(request)

    async with AppClient(app) as client:
        with pytest.raises(RuntimeError, match="needs SecurityHeadersMiddleware"):
            await client.get("/page")
