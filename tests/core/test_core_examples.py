"""The hello example over HTTP and under uvicorn, and the core README's examples."""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _core_serving import free_port, serving

from stellate.core import App
from stellate.core.testing import AppClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AppClient]:
    # `App()` reads STELLATE_PLUGINS; the example is core only unless that names plugins.
    monkeypatch.delenv("STELLATE_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("examples.hello.app", None)
    module = importlib.import_module("examples.hello.app")
    app = module.app
    assert isinstance(app, App)
    assert app.plugins == []
    async with AppClient(app) as http:
        yield http
    sys.modules.pop("examples.hello.app", None)


async def test_index(client: AppClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello, world!"}


async def test_path_and_query_parameters(client: AppClient) -> None:
    assert (await client.get("/greet/Ada")).json() == {"message": "Hello, Ada!"}
    shouted = await client.get("/greet/Ada", params={"shout": "true"})
    assert shouted.json() == {"message": "HELLO, ADA!"}
    assert (await client.get("/squares/12")).json() == {"number": 12, "square": 144}


async def test_path_parameter_errors(client: AppClient) -> None:
    # `{number:int}` does not match a word: no route, so 404.
    assert (await client.get("/squares/twelve")).status_code == 404
    too_big = await client.get("/squares/1000001")
    assert too_big.status_code == 400
    assert too_big.json() == {"detail": "`number` must be at most 1000000, got 1000001"}


async def test_echo(client: AppClient) -> None:
    response = await client.post("/echo", json={"text": "ab", "repeat": 3})
    assert response.status_code == 200
    assert response.json() == {"text": "ababab", "repeat": 3}
    assert (await client.post("/echo", json={"text": "x"})).json() == {"text": "x", "repeat": 1}


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{", 400, "Malformed JSON body"),
        (b"", 400, "Request body is empty"),
        (b'{"repeat": 2}', 422, "missing required field `text`"),
        (b'{"text": 5}', 422, "Expected `str`, got `int` - at `$.text`"),
        (b'{"text": "a", "repeat": 11}', 422, "Expected `int` <= 10 - at `$.repeat`"),
        (b'{"text": "a", "colour": "red"}', 422, "unknown field `colour`"),
    ],
)
async def test_echo_rejects_bad_bodies(
    client: AppClient, body: bytes, status: int, detail: str
) -> None:
    response = await client.post(
        "/echo", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert detail in response.json()["detail"]


async def test_echo_is_post_only(client: AppClient) -> None:
    assert (await client.get("/echo")).status_code == 405


async def test_health(client: AppClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


async def test_served_by_uvicorn_from_the_repository_root() -> None:
    # What the README's `uv run uvicorn examples.hello.app:app` does.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLATE_")}
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    command = [uvicorn, "examples.hello.app:app", "--port", str(port)]
    with serving(command, port, cwd=ROOT, env=env) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            index = await http.get("/")
            echo = await http.post("/echo", json={"text": "hi"})
    assert index.json() == {"message": "Hello, world!"}
    assert echo.json() == {"text": "hi", "repeat": 1}


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.DOTALL)


async def test_core_readme_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STELLATE_PLUGINS", raising=False)
    minimal, plugin = _python_blocks(ROOT / "packages" / "core" / "README.md")[:2]
    namespace: dict[str, Any] = {"__name__": "readme_minimal"}
    exec(compile(minimal, "README.md", "exec"), namespace)
    async with AppClient(namespace["app"]) as http:
        assert (await http.get("/notes/7")).json() == {"id": 7, "text": "hello"}
        missing = await http.get("/notes/101")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Note 101 not found"}
        assert (await http.post("/notes", json={"text": "x"})).json() == {"text": "x"}
        assert (await http.post("/notes", json={})).status_code == 422
        assert (await http.post("/notes", content=b"{")).status_code == 400
        assert (await http.get("/health")).status_code == 200

    namespace = {"__name__": "readme_plugin"}
    exec(compile(plugin, "README.md", "exec"), namespace)
    app = App(plugins=[namespace["HelloPlugin"]()])
    async with AppClient(app) as http:
        assert (await http.get("/hello")).json() == {"hello": "world"}
