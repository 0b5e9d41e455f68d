"""STELLATE_ALLOWED_HOSTS: requests for other hosts are refused before any route runs."""

from __future__ import annotations

from typing import Any

import pytest

from stellate.core import App
from stellate.core.hosts import AllowedHostsMiddleware
from stellate.core.testing import AppClient


def make_app(hosts: list[str]) -> App:
    app = App(settings={"allowed_hosts": hosts})
    calls: list[str] = []

    @app.get("/")
    async def home(request: object) -> dict[str, int]:
        calls.append("home")
        return {"calls": len(calls)}

    return app


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 200),
        ("EXAMPLE.com:8443", 200),
        ("api.example.com", 200),
        ("deep.api.example.com", 200),
        ("evil.com", 400),
        ("example.com.evil.com", 400),
        ("notexample.com", 400),
        ("", 400),
    ],
)
async def test_only_listed_hosts_are_served(host: str, status: int) -> None:
    app = make_app(["example.com", "*.example.com"])
    async with AppClient(app) as client:
        response = await client.get("/", headers={"host": host})
    assert response.status_code == status, host
    if status == 400:
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "detail": "Invalid Host header: this server does not serve that host name"
        }
        assert host.encode() not in response.content or not host


async def test_no_setting_means_no_check() -> None:
    async with AppClient(make_app([])) as client:
        response = await client.get("/", headers={"host": "anything.test"})
    assert response.status_code == 200


async def test_ipv6_host_with_port() -> None:
    async with AppClient(make_app(["[::1]"])) as client:
        assert (await client.get("/", headers={"host": "[::1]:8000"})).status_code == 200
        assert (await client.get("/", headers={"host": "[::2]:8000"})).status_code == 400


async def test_websocket_for_another_host_is_closed() -> None:
    reached: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    middleware = AllowedHostsMiddleware(inner, allowed_hosts=["example.com"])
    scope = {"type": "websocket", "headers": [(b"host", b"evil.com")]}
    await middleware(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == []
    await middleware({**scope, "headers": [(b"host", b"example.com")]}, receive, send)
    assert reached == ["websocket"]


def test_setting_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_ALLOWED_HOSTS", "example.com, *.example.org")
    assert App().settings.allowed_hosts == ["example.com", "*.example.org"]


def test_empty_list_is_refused_by_the_middleware() -> None:
    with pytest.raises(ValueError, match=r"STELLATE_ALLOWED_HOSTS=example\.com"):
        AllowedHostsMiddleware(make_app([]), allowed_hosts=[" "])
