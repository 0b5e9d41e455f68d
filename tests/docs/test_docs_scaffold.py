"""`stellate new --with ...`: the project installs, migrates, passes its tests and lints clean.

The tutorial starts from this command, so these tests walk its first steps: create the
project in a temporary folder, install it with `uv run --offline` (the workspace's
packages by path, everything else from uv's cache: no network), run its tests, apply
its migrations to an embedded PostgreSQL and check the migration matches the models.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from _docs_env import new_user_env
from click.testing import CliRunner

from stellate.core._scaffold import FEATURES, local_packages, resolve_features
from stellate.core.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ALL = ",".join(FEATURES)


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _new(tmp_path: Path, name: str, *options: str) -> Path:
    result = CliRunner().invoke(
        cli, ["new", name, "--directory", str(tmp_path), *options], prog_name="stellate"
    )
    assert result.exit_code == 0, result.output
    return tmp_path / name


def test_full_project_installs_migrates_and_passes_its_tests(tmp_path: Path) -> None:
    project = _new(tmp_path, "notes", "--with", ALL)
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {
        "app.py",
        "models.py",
        "api.py",
        "migrations/0001_initial.py",
        "migrations/_state.json",
        "tests/conftest.py",
        "tests/test_app.py",
        "README.md",
        "pyproject.toml",
    } <= names
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    sources = pyproject["tool"]["uv"]["sources"]
    assert sources["stellate-orm"] == {"path": str(ROOT / "packages" / "orm"), "editable": True}
    assert set(sources) == {f"stellate-{name}" for name in ("core", *FEATURES)}

    uv = shutil.which("uv")
    if uv is None:  # pragma: no cover - the workspace is driven by uv
        pytest.skip("uv is not on PATH")
    # One command installs the project (offline: workspace packages by path) and tests it.
    output = _run(
        [uv, "run", "--offline", "pytest", "-q", "-p", "no:cacheprovider"], project, new_user_env()
    )
    assert "10 passed" in output, output

    # The shipped migration is what makemigrations writes for models.py, and it applies
    # to the embedded PostgreSQL a newcomer gets (no database configured).
    python = str(project / ".venv" / "bin" / "python")
    embedded = new_user_env(STELLATE_EMBEDDED_DIR=str(tmp_path / "pgdata"))
    check = ["makemigrations", "--check", "--models", "models"]
    _run([python, "-m", "stellate.orm.migrations", *check], project, embedded)
    output = _run([python, "-m", "stellate.orm.migrations", "migrate"], project, embedded)
    assert "0001_initial" in output, output
    output = _run([python, "-m", "stellate.orm.migrations", "showmigrations"], project, embedded)
    assert "[X] 0001_initial" in output, output

    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--isolated", "--select", "E,F,W,I,UP,B", "."],
        cwd=project, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [str(BIN / "ruff"), "format", "--isolated", "--check", "."],
        cwd=project, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert fmt.returncode == 0, fmt.stdout


def test_tasks_without_orm_passes_its_tests(tmp_path: Path) -> None:
    project = _new(tmp_path, "site", "--with", "tasks")
    env = new_user_env(PYTHONPATH=str(project))
    output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert "5 passed" in output, output


@pytest.mark.parametrize("features", ["", "orm", "rest", "auth", "tasks", "orm,tasks"])
def test_every_combination_lints_clean(tmp_path: Path, features: str) -> None:
    project = _new(tmp_path, "site", "--with", features)
    for command in (["check", "--select", "E,F,W,I,UP,B"], ["format", "--check"]):
        lint = subprocess.run(
            [str(BIN / "ruff"), *command, "--isolated", "."],
            cwd=project, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert lint.returncode == 0, lint.stdout


def test_features_bring_what_they_need() -> None:
    assert resolve_features("rest") == ("orm", "rest")
    assert resolve_features("admin,tasks") == ("orm", "auth", "tasks", "admin")
    assert resolve_features(" Tasks , ") == ("tasks",)
    assert resolve_features("") == ()


def test_unknown_feature_is_refused_with_the_valid_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["new", "site", "--with", "orm,graphql", "--directory", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "`graphql` is not a feature: choose from orm, rest, auth, tasks, admin" in (
        result.output
    )
    assert not (tmp_path / "site").exists()


def test_stellate_path_points_the_project_at_a_checkout(tmp_path: Path) -> None:
    packages = local_packages()
    assert packages == ROOT / "packages"
    project = _new(tmp_path, "site", "--with", "orm", "--stellate-path", str(packages))
    sources = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["sources"]
    assert sources["stellate-core"]["path"] == str(packages / "core")
    result = CliRunner().invoke(cli, ["new", "--help"])
    assert "Examples:" in result.output
    assert "--with" in result.output
