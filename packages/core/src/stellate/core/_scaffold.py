"""The project ``stellate new NAME`` writes: an app, its tests, packaging and a README."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

_PYPROJECT = Template("""\
[project]
name = "$project"
version = "0.1.0"
description = "A Stellate application"
requires-python = ">=3.11"
dependencies = ["stellate-core"]

[dependency-groups]
dev = ["stellate-core[testing]", "pytest>=8.3", "pytest-asyncio>=1.0", "httpx>=0.27"]

[tool.uv]
# An application, not a library: nothing to build or publish.
package = false

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
addopts = ["--strict-config", "--strict-markers"]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
filterwarnings = ["error"]
""")

_APP = Template('''\
"""The $project application.

Run it with `stellate run app:app --reload` (or `uvicorn app:app`).
"""

from __future__ import annotations

import msgspec
from stellate.core import App, Request

# Plugins come from STELLATE_PLUGINS unless you list them: App(plugins=["orm", "rest"]).
app = App()
app.mount_health()


class Greeting(msgspec.Struct):
    """The body of POST /greetings."""

    name: str


@app.get("/")
async def index(request: Request) -> dict[str, str]:
    return {"project": "$project", "message": "It works!"}


@app.post("/greetings")
async def greet(request: Request) -> dict[str, str]:
    greeting = await request.json(Greeting)
    return {"message": f"Hello, {greeting.name}!"}
''')

_CONFTEST = Template('''\
"""Test fixtures: the `client` fixture of stellate-core's pytest plugin uses `app`."""

from __future__ import annotations

import pytest
from stellate.core import App

from app import app as application


@pytest.fixture
def app() -> App:
    return application
''')

_TEST_APP = Template('''\
"""Tests of the $project application, over HTTP through the ASGI app."""

from __future__ import annotations

from stellate.core.testing import AppClient


async def test_index(client: AppClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"project": "$project", "message": "It works!"}


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
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
''')

_README = Template("""\
# $project

A [Stellate](https://pypi.org/project/stellate-core/) application.

    uv run stellate run app:app --reload     # serves http://127.0.0.1:8000
    uv run pytest                             # runs the tests

Other useful commands:

    uv run stellate --app app:app routes      # every route and its handler
    uv run stellate --app app:app check       # is the app well configured?
    uv run stellate --app app:app plugins     # installed and enabled plugins

Add plugins with `uv add stellate-orm` and enable them by name:
`App(plugins=["orm"])` in `app.py`, or `STELLATE_PLUGINS=orm`.
""")

_GITIGNORE = """\
.venv/
__pycache__/
.pytest_cache/
.stellate/
"""


def scaffold_files(project: str) -> dict[str, str]:
    """The files of a new project called ``project``, by relative path."""
    values = {"project": project}
    return {
        "pyproject.toml": _PYPROJECT.substitute(values),
        "app.py": _APP.substitute(values),
        "tests/__init__.py": "",
        "tests/conftest.py": _CONFTEST.substitute(values),
        "tests/test_app.py": _TEST_APP.substitute(values),
        "README.md": _README.substitute(values),
        ".gitignore": _GITIGNORE,
    }


def write_project(target: Path, project: str) -> list[Path]:
    """Write the project into ``target`` (which must not exist or be empty).

    Returns:
        The paths written, in order.
    """
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in scaffold_files(project).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
