"""The example third-party plugin (examples/plugin_hello), in-process and installed alone.

The second half builds a fresh virtual environment holding only stellate-core and
stellate-plugin-hello (installed as built wheels, not editable), then shows in
subprocesses of that environment that naming the plugin (by argument or
STELLATE_PLUGINS) changes the app, and that merely installing it changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from _core_serving import free_port, serving

from stellate.core import App, StartupError
from stellate.core.testing import AppClient, PluginContract
from stellate_plugin_hello import HelloPlugin

ROOT = Path(__file__).resolve().parents[2]


class TestHelloPluginContract(PluginContract):
    plugin_class = HelloPlugin


# -- in process ---------------------------------------------------------------------


async def test_route_header_hook_and_extension() -> None:
    app = App(plugins=[HelloPlugin()])
    assert app.hello.started is False
    async with AppClient(app) as client:
        response = await client.get("/hello", params={"name": "Ada"})
        other = await client.get("/no-such-page")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada!", "started": True}
    assert response.headers["x-hello"] == "world"
    # The middleware wraps every response, errors included.
    assert other.status_code == 404
    assert other.headers["x-hello"] == "world"
    assert app.hello.started is True
    assert set(app.commands) == {"hello"}


async def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_HELLO_GREETING", "Bonjour")
    monkeypatch.setenv("STELLATE_HELLO_HEADER", "monde")
    async with AppClient(App(plugins=["hello"])) as client:
        response = await client.get("/hello")
    assert response.json()["message"] == "Bonjour, world!"
    assert response.headers["x-hello"] == "monde"


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STELLATE_HELLO_GREETING", "")
    with pytest.raises(StartupError) as caught:
        App(plugins=["hello"])
    message = str(caught.value)
    assert "Plugin `hello` (stellate-plugin-hello)" in message
    assert "STELLATE_HELLO_GREETING" in message


def test_two_apps_do_not_share_state() -> None:
    first, second = App(plugins=["hello"]), App(plugins=["hello"])
    assert first.hello is not second.hello
    assert first.commands["hello"] is not second.commands["hello"]


# -- installed alone, in subprocesses -------------------------------------------------

APPS = {
    # Names the plugin in its code.
    "app_named.py": """
        from stellate.core import App, Request

        app = App(plugins=["hello"])

        @app.get("/")
        async def index(request: Request) -> dict[str, str]:
            return {"app": "named"}
    """,
    # Names no plugin: STELLATE_PLUGINS decides.
    "app_plain.py": """
        from stellate.core import App, Request

        app = App()

        @app.get("/")
        async def index(request: Request) -> dict[str, str]:
            return {"app": "plain"}
    """,
}


class Env:
    """A virtual environment with only stellate-core and stellate-plugin-hello."""

    def __init__(self, venv: Path, apps: Path) -> None:
        self.bin = venv / "bin"
        self.apps = apps

    def environ(self, **extra: str) -> dict[str, str]:
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        return {**base, **extra}

    def stellate(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "stellate"), *args],
            cwd=self.apps,
            env=self.environ(**env),
            capture_output=True,
            text=True,
            timeout=30,
        )

    def python(self, code: str) -> str:
        done = subprocess.run(
            [str(self.bin / "python"), "-c", code],
            cwd=self.apps,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="module")
def hello_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: install it with `pip install uv`")
    root = tmp_path_factory.mktemp("hello-env")
    venv = root / "venv"
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env=env, check=True
    )
    # --no-sources: install both from their folders as built wheels, not as the
    # workspace's editable members.
    subprocess.run(
        [
            uv, "pip", "install", "--quiet", "--no-sources", "--python", str(venv / "bin/python"),
            str(ROOT / "packages/core"), str(ROOT / "examples/plugin_hello"),
        ],
        env=env,
        check=True,
        timeout=120,
    )  # fmt: skip
    apps = root / "apps"
    apps.mkdir()
    for name, source in APPS.items():
        (apps / name).write_text(textwrap.dedent(source))
    return Env(venv, apps)


def test_environment_holds_only_core_and_the_plugin(hello_env: Env) -> None:
    found = hello_env.python(
        "import importlib.util as u, stellate.core, stellate_plugin_hello;"
        "print(stellate.core.__file__);print(stellate_plugin_hello.__file__);"
        "print([m for m in ('stellate.orm', 'stellate.rest', 'stellate.auth') if u.find_spec(m)])"
    )
    core_file, plugin_file, others = found.splitlines()
    # Installed copies, not the repository's sources.
    assert "site-packages" in core_file
    assert "site-packages" in plugin_file
    assert others == "[]"


def _get(url: str, path: str) -> httpx.Response:
    return httpx.get(url + path, timeout=10)


@pytest.mark.parametrize(
    ("module", "env"),
    [("app_named", {}), ("app_plain", {"STELLATE_PLUGINS": "hello"})],
    ids=["by-argument", "by-STELLATE_PLUGINS"],
)
def test_enabled_plugin_changes_the_app(hello_env: Env, module: str, env: dict[str, str]) -> None:
    port = free_port()
    command = [str(hello_env.bin / "stellate"), "run", f"{module}:app", "--port", str(port)]
    with serving(command, port, cwd=hello_env.apps, env=hello_env.environ(**env)) as url:
        hello = _get(url, "/hello?name=Ada")
        index = _get(url, "/")
    assert hello.status_code == 200
    # "started": the plugin's startup hook ran in the real server's lifespan.
    assert hello.json() == {"message": "Hello, Ada!", "started": True}
    assert hello.headers["x-hello"] == "world"
    assert index.headers["x-hello"] == "world"

    command_run = hello_env.stellate("--app", f"{module}:app", "hello", "Grace", **env)
    assert command_run.returncode == 0, command_run.stderr
    assert command_run.stdout == "Hello, Grace!\n"
    listing = hello_env.stellate("--app", f"{module}:app", "plugins", **env)
    assert "enabled (#1)" in listing.stdout
    assert "stellate-plugin-hello" in listing.stdout


def test_installed_but_not_named_changes_nothing(hello_env: Env) -> None:
    port = free_port()
    command = [str(hello_env.bin / "stellate"), "run", "app_plain:app", "--port", str(port)]
    with serving(command, port, cwd=hello_env.apps, env=hello_env.environ()) as url:
        hello = _get(url, "/hello")
        index = _get(url, "/")
    assert hello.status_code == 404
    assert "x-hello" not in hello.headers
    assert index.json() == {"app": "plain"}
    assert "x-hello" not in index.headers

    command_run = hello_env.stellate("--app", "app_plain:app", "hello")
    assert command_run.returncode == 2
    assert "No command `hello`" in command_run.stderr

    listing = hello_env.stellate("--app", "app_plain:app", "plugins")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.split()[:1] == ["hello"])
    assert row.split()[1:3] == ["stellate-plugin-hello", "0.1.0"]
    assert "disabled: not in plugins list / STELLATE_PLUGINS" in row
    # Without an app, the listing shows it installed and not enabled as well.
    bare = hello_env.stellate("plugins")
    assert bare.returncode == 0
    assert next(line.split()[0] for line in bare.stdout.splitlines()[2:] if line.strip()) == "hello"
    assert "disabled: not in plugins list / STELLATE_PLUGINS" in bare.stdout


# -- the guide quotes the example verbatim ------------------------------------------

_QUOTED = re.compile(r"<!-- verbatim: (?P<path>\S+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL)


def test_writing_plugins_guide_quotes_the_example() -> None:
    guide = (ROOT / "docs" / "writing-plugins.md").read_text()
    quotes = list(_QUOTED.finditer(guide))
    assert len(quotes) >= 5
    for quote in quotes:
        source = (ROOT / quote["path"]).read_text()
        assert quote["code"] in source, f"the guide's block from {quote['path']} no longer matches"
