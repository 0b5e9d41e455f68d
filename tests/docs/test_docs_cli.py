"""Every `stellate` command, built in or added by a plugin, has --help with an example,
and the CLI reference names each one."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from _docs_env import new_user_env
from click.testing import CliRunner

from stellate.core.cli import cli

ROOT = Path(__file__).resolve().parents[2]
APP = """
from stellate.core import App

app = App(plugins=["orm", "rest", "auth", "tasks"])
"""


@pytest.fixture
def app_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "docs_cli_app.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("STELLATE_SECRET_KEY", "docs-cli-" + "k" * 50)
    yield "docs_cli_app:app"
    sys.modules.pop("docs_cli_app", None)


def _commands(
    group: click.Group, ctx: click.Context, prefix: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*prefix, name)
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx, info_name=name)
            yield from _commands(command, sub, (*prefix, name))


def test_every_command_has_help_with_an_example(app_spec: str) -> None:
    ctx = click.Context(cli, info_name="stellate")
    ctx.params["app_spec"] = app_spec
    paths = list(_commands(cli, ctx, ()))
    names = {path[-1] for path in paths}
    # The built-ins and what the orm, auth and tasks plugins add.
    assert {"new", "run", "check", "routes", "plugins", "migrate", "makemigrations",
            "createsuperuser", "worker", "tasks", "verify"} <= names  # fmt: skip
    missing = []
    for path in paths:
        result = CliRunner().invoke(cli, ["--app", app_spec, *path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.output:
            missing.append(" ".join(path))
    assert not missing, f"`stellate ... --help` shows no example for: {missing}"


def test_cli_reference_names_every_command(app_spec: str) -> None:
    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    ctx = click.Context(cli, info_name="stellate")
    ctx.params["app_spec"] = app_spec
    absent = [
        " ".join(path)
        for path in _commands(cli, ctx, ())
        if not re.search(r"[` ]" + re.escape(" ".join(path)) + r"[` ]", page)
    ]
    assert not absent, f"docs/reference/cli.md does not mention: {absent}"


def test_a_project_made_by_stellate_new_needs_no_app_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new", "site", "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    env = new_user_env()
    stellate = str(Path(sys.executable).parent / "stellate")
    routes = subprocess.run(
        [stellate, "routes"], cwd=tmp_path / "site", env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert routes.returncode == 0, routes.stderr
    assert "/greetings" in routes.stdout
    # Elsewhere, a command that needs an app still says how to name one.
    elsewhere = subprocess.run(
        [stellate, "routes"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert elsewhere.returncode == 2
    assert "--app" in elsewhere.stderr
