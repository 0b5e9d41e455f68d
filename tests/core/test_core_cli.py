"""The `stellate` CLI: every command, its errors and exit codes, on real apps."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _core_serving import free_port, serving
from click.testing import CliRunner, Result

from stellate.core._deploy_checks import estimated_entropy_bits
from stellate.core.cli import cli

BIN = Path(sys.executable).parent
STRONG_KEY = "kq3V9-zP_rT7wX2mLb8yNc4HdJ6fGs0aEuQiOoYvRtWxZ1lK5nM"
_counter = itertools.count()

MakeApp = Callable[[str], str]


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeApp]:
    """Write an app module into a temporary folder (the cwd) and return its `module:app`."""
    for name in ("STELLATE_APP", "STELLATE_PLUGINS", "STELLATE_ENV", "STELLATE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("STELLATE_SECRET_KEY", raising=False)
    monkeypatch.delenv("STELLATE_LOG_LEVEL", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    modules: list[str] = []

    def make(source: str) -> str:
        module = f"cli_app_{os.getpid()}_{next(_counter)}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        modules.append(module)
        return f"{module}:app"

    yield make
    for module in modules:
        sys.modules.pop(module, None)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, prog_name="stellate")


HELLO = """
from stellate.core import App, Request

app = App(plugins=[])

@app.get("/items/{item_id:int}", name="item")
async def item(request: Request, item_id: int) -> dict[str, int]:
    return {"id": item_id}

@app.post("/items")
async def create(request: Request) -> dict[str, str]:
    return {}
"""


# -- the root command and app loading --------------------------------------------------


def test_help_lists_builtins_and_each_command_has_an_example() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("run", "plugins", "routes", "check", "new"):
        assert name in result.output
        sub = invoke(name, "--help")
        assert sub.exit_code == 0, sub.output
        assert "Example" in sub.output, f"`stellate {name} --help` shows no example"


def test_no_app_is_a_usage_error_naming_both_ways(make_app: MakeApp) -> None:
    result = invoke("routes")
    assert result.exit_code == 2
    assert "--app" in result.stderr
    assert "STELLATE_APP" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_app_from_environment(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    result = invoke("routes", env={"STELLATE_APP": spec})
    assert result.exit_code == 0, result.output
    assert "/items/{item_id:int}" in result.output


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("no_colon_here", "is not `module:attribute`"),
        ("no_such_module_xyz:app", "Cannot import module `no_such_module_xyz`"),
        (":app", "is not `module:attribute`"),
    ],
)
def test_bad_app_spec_is_a_usage_error(make_app: MakeApp, spec: str, expected: str) -> None:
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_attribute_and_non_app(make_app: MakeApp) -> None:
    spec = make_app("app = 42\n")
    module = spec.split(":")[0]
    result = invoke("--app", f"{module}:application", "routes")
    assert result.exit_code == 2
    assert f"Module `{module}` has no attribute `application`" in result.stderr
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 2
    assert "is a int, not a stellate App" in result.stderr


def test_module_that_raises_is_a_failure(make_app: MakeApp) -> None:
    spec = make_app("import json\nraise RuntimeError('boom at import')\n")
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 1
    assert "RuntimeError: boom at import" in result.stderr
    spec = make_app("import not_installed_dependency_xyz\n")
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 1
    assert "install `not_installed_dependency_xyz`" in result.stderr


def test_startup_error_names_the_variable(make_app: MakeApp) -> None:
    spec = make_app("from stellate.core import App\napp = App(plugins=[])\n")
    result = invoke("--app", spec, "check", env={"STELLATE_DEBUG": "maybe"})
    assert result.exit_code == 1
    assert "STELLATE_DEBUG=`maybe`" in result.stderr
    assert "`true`, `false`" in result.stderr


# -- routes ---------------------------------------------------------------------------

PLUGIN_APP = """
import click
from starlette.routing import Route, Router
from starlette.responses import PlainTextResponse
from stellate.core import App, Plugin, Request

async def sub(request):
    return PlainTextResponse("sub")

class Greeter(Plugin):
    name = "greeter"

    def setup(self, app):
        @app.get("/greet", name="greet")
        async def greet(request: Request) -> dict[str, str]:
            return {"hi": "there"}

        @click.command("greet")
        @click.option("--loud", is_flag=True)
        def greet_command(loud: bool) -> None:
            click.echo("HI" if loud else "hi")

        app.add_command(greet_command)

app = App(plugins=[Greeter()])
app.mount("/sub", Router([Route("/page", sub, name="page")]))

@app.get("/")
async def index(request: Request) -> dict[str, str]:
    return {}
"""


def test_routes_shows_method_path_name_handler_and_owner(make_app: MakeApp) -> None:
    spec = make_app(PLUGIN_APP)
    module = spec.split(":")[0]
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["method", "path", "name", "handler", "owner"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["/greet"][0] == "GET"
    assert rows["/greet"][2] == "greet"
    assert rows["/greet"][3].endswith("Greeter.setup.<locals>.greet")
    assert " ".join(rows["/greet"][4:]) == "plugin `greeter` (passed as an object)"
    assert rows["/"][3] == f"{module}.index"
    assert rows["/"][-1] == "app"
    # Routes of a mounted router are listed under the mount's prefix.
    assert rows["/sub/page"][0:3] == ["GET", "/sub/page", "page"]


def test_routes_of_an_app_without_routes(make_app: MakeApp) -> None:
    spec = make_app("from stellate.core import App\napp = App(plugins=[])\n")
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 0
    assert "no routes" in result.output


# -- plugin commands ------------------------------------------------------------------


def test_plugin_command_runs_and_is_listed(make_app: MakeApp) -> None:
    spec = make_app(PLUGIN_APP)
    assert invoke("--app", spec, "greet").output == "hi\n"
    assert invoke("--app", spec, "greet", "--loud").output == "HI\n"
    listing = invoke("--app", spec, "--help")
    assert "greet" in listing.output
    # Without an app, the plugin's command does not exist.
    assert "greet" not in invoke("--help").output.split("Commands:")[1]


def test_unknown_command_with_and_without_app(make_app: MakeApp) -> None:
    spec = make_app(PLUGIN_APP)
    result = invoke("--app", spec, "nope")
    assert result.exit_code == 2
    assert "No command `nope`" in result.stderr
    assert "add: greet" in result.stderr
    result = invoke("nope")
    assert result.exit_code == 2
    assert "plugin commands need the app: pass --app" in result.stderr


CLASH_APP = """
import click
from stellate.core import App, Plugin

class Clasher(Plugin):
    name = "clasher"

    def setup(self, app):
        @click.command("routes")
        def routes() -> None:
            click.echo("the plugin's routes")

        app.add_command(routes)

app = App(plugins=[Clasher()])
"""


def test_plugin_command_clashing_with_a_builtin(make_app: MakeApp) -> None:
    spec = make_app(CLASH_APP)
    result = invoke("--app", spec, "routes")
    assert result.exit_code == 0
    assert "the plugin's routes" not in result.stdout
    assert "CLI command `routes` of plugin `clasher`" in result.stderr
    assert "rename the plugin's command" in result.stderr
    result = invoke("--app", spec, "check")
    assert result.exit_code == 1
    assert "CLI command `routes` of plugin `clasher`" in result.stdout


# -- plugins --------------------------------------------------------------------------


def _rows(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines()[2:] if line.strip()}


def test_plugins_with_an_app(make_app: MakeApp) -> None:
    spec = make_app(PLUGIN_APP)
    result = invoke("--app", spec, "plugins")
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert "enabled (#1)" in rows["greeter"]
    # stellate-plugin-hello is installed in the workspace but this app does not name it.
    assert "stellate-plugin-hello" in rows["hello"]
    assert "0.1.0" in rows["hello"]
    assert "disabled: not in plugins list / STELLATE_PLUGINS" in rows["hello"]


def test_plugins_without_an_app_reads_stellate_plugins(make_app: MakeApp) -> None:
    result = invoke("plugins", env={"STELLATE_PLUGINS": "hello,nothere"})
    assert result.exit_code == 0, result.output
    assert "STELLATE_PLUGINS=hello,nothere would enable" in result.output
    rows = _rows(result.output)
    assert "enabled by STELLATE_PLUGINS" in rows["hello"]
    assert "stellate-plugin-hello" in rows["hello"]
    assert "missing: not installed: install the distribution" in rows["nothere"]
    result = invoke("plugins", env={"STELLATE_PLUGINS": ""})
    assert "disabled: not in plugins list / STELLATE_PLUGINS" in _rows(result.output)["hello"]
    result = invoke("plugins", env={"STELLATE_PLUGINS": "installed"})
    assert "enabled by STELLATE_PLUGINS" in _rows(result.output)["hello"]


# -- check ----------------------------------------------------------------------------


def test_check_passes_for_a_good_app(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    result = invoke("--app", spec, "check")
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output
    assert "2 routes" in result.output


def test_check_reports_every_plugin_problem(make_app: MakeApp) -> None:
    spec = make_app(
        """
        from stellate.core import App, Plugin

        class Broken(Plugin):
            name = "broken"
            def setup(self, app):
                raise ValueError("no config")

        app = App(plugins=[Broken()])
        """
    )
    result = invoke("--app", spec, "check")
    assert result.exit_code == 1
    assert "Plugin `broken`" in result.stderr
    assert "ValueError: no config" in result.stderr


def test_check_deploy_in_development(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    result = invoke("--app", spec, "check", "--deploy", env={"STELLATE_LOG_LEVEL": "debug"})
    assert result.exit_code == 1
    assert "STELLATE_ENV is `development`: set STELLATE_ENV=production" in result.output
    assert "STELLATE_SECRET_KEY is not set: generate one with" in result.output
    assert "STELLATE_LOG_LEVEL is `debug`" in result.output


def test_check_deploy_passes_in_production(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    env = {
        "STELLATE_ENV": "production",
        "STELLATE_SECRET_KEY": STRONG_KEY,
        "STELLATE_ALLOWED_HOSTS": "example.com",
    }
    result = invoke("--app", spec, "check", "--deploy", env=env)
    assert result.exit_code == 0, result.output
    assert "no problems found (deploy check" in result.output


def test_check_deploy_reports_a_missing_host_check(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    env = {"STELLATE_ENV": "production", "STELLATE_SECRET_KEY": STRONG_KEY}
    result = invoke("--app", spec, "check", "--deploy", env=env)
    assert result.exit_code == 1
    assert "No Host check: set STELLATE_ALLOWED_HOSTS=example.com" in result.output


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("short-but-random-Xy7", "has 20 characters: use at least 50"),
        ("ab" * 30, "too predictable (2 distinct characters"),
        ("abcde" * 10, "too predictable (5 distinct characters, about 116 bits"),
    ],
)
def test_check_deploy_weak_secret_keys(make_app: MakeApp, key: str, expected: str) -> None:
    spec = make_app(HELLO)
    env = {"STELLATE_ENV": "production", "STELLATE_SECRET_KEY": key}
    result = invoke("--app", spec, "check", "--deploy", env=env)
    assert result.exit_code == 1
    assert expected in result.output
    assert "secrets.token_urlsafe(50)" in result.output


def test_check_deploy_debug_in_production_stops_the_app(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    env = {"STELLATE_ENV": "production", "STELLATE_SECRET_KEY": STRONG_KEY}
    result = invoke("--app", spec, "check", "--deploy", env={**env, "STELLATE_DEBUG": "true"})
    assert result.exit_code == 1
    assert "STELLATE_DEBUG is on in production" in result.stderr


def test_check_deploy_wildcard_allowed_hosts(make_app: MakeApp) -> None:
    spec = make_app(
        """
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        from stellate.core import App

        app = App(plugins=[])
        app.use(TrustedHostMiddleware, allowed_hosts=["example.com", "*"])
        """
    )
    env = {"STELLATE_ENV": "production", "STELLATE_SECRET_KEY": STRONG_KEY}
    result = invoke("--app", spec, "check", "--deploy", env=env)
    assert result.exit_code == 1
    assert "TrustedHostMiddleware allows every host (`*`)" in result.output


def test_entropy_estimate() -> None:
    assert estimated_entropy_bits("") == 0
    assert estimated_entropy_bits("a" * 100) == 0
    assert estimated_entropy_bits("ab" * 32) == pytest.approx(64)
    assert estimated_entropy_bits(STRONG_KEY) > 200


# -- run ------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_run_serves_the_app_over_http(
    make_app: MakeApp, tmp_path: Path, workers: str
) -> None:
    spec = make_app(HELLO)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLATE_")}
    command = [str(BIN / "stellate"), "run", spec, "--port", str(port), "--workers", workers]
    with serving(command, port, cwd=tmp_path, env=env) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/items/7")
    assert response.status_code == 200
    assert response.json() == {"id": 7}


def test_run_reports_a_broken_app_before_serving(make_app: MakeApp) -> None:
    spec = make_app("from stellate.core import App\napp = App(plugins=['nothere'])\n")
    result = invoke("run", spec, "--port", str(free_port()))
    assert result.exit_code == 1
    assert "Plugin `nothere` is not installed" in result.stderr


def test_run_usage_errors(make_app: MakeApp) -> None:
    spec = make_app(HELLO)
    result = invoke("run", spec, "--reload", "--workers", "2")
    assert result.exit_code == 2
    assert "--reload runs one process" in result.stderr
    result = invoke("run", spec, "--port", "99999")
    assert result.exit_code == 2
    assert "99999" in result.stderr
    assert invoke("run").exit_code == 2


# -- new ------------------------------------------------------------------------------


def test_new_scaffolds_a_project_whose_tests_pass(tmp_path: Path) -> None:
    result = invoke("new", "my-site", "--directory", str(tmp_path))
    assert result.exit_code == 0, result.output
    project = tmp_path / "my-site"
    for name in ("pyproject.toml", "app.py", "tests/test_app.py", "tests/conftest.py", "README.md"):
        assert (project / name).is_file(), name
    assert '"stellate-core"' in (project / "pyproject.toml").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELLATE_")}
    env["PYTHONPATH"] = str(project)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    # The generated code is clean by the usual linters' defaults.
    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--isolated", "--select", "E,F,W,I,UP,B", "."],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, lint.stdout
    # The generated app is a valid app for the CLI too.
    routes = subprocess.run(
        [str(BIN / "stellate"), "--app", "app:app", "routes"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert routes.returncode == 0, routes.stderr
    assert "/greetings" in routes.stdout


def test_new_refuses_an_existing_folder_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("keep me")
    result = invoke("new", "taken", "--directory", str(tmp_path))
    assert result.exit_code == 1
    assert "already exists and is not empty" in result.stderr
    assert (tmp_path / "taken" / "file.txt").read_text() == "keep me"
    result = invoke("new", "9lives", "--directory", str(tmp_path))
    assert result.exit_code == 2
    assert "`9lives` is not a project name" in result.stderr
    assert not (tmp_path / "9lives").exists()
