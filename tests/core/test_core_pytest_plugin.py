"""The pytest plugin's ``client`` fixture, run in a pytest of its own like a user's project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFTEST = """
import pytest
from stellate.core import App


@pytest.fixture
async def greeting():
    return "hello"


@pytest.fixture
async def app(greeting):
    app = App()

    @app.get("/")
    async def home(request):
        return {"greeting": greeting}

    return app
"""

TEST = """
async def test_home(client):
    response = await client.get("/")
    assert response.json() == {"greeting": "hello"}
"""

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_app_fixture_may_depend_on_async_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_home.py").write_text(TEST)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_client_without_an_app_fixture_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_home.py").write_text(TEST)
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "The `client` fixture needs an `app` fixture: define one in conftest.py" in (
        result.stdout + result.stderr
    )
