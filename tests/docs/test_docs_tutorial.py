"""The tutorial's files are what `stellate new` writes, and its next step works as written.

The tutorial shows `docs/samples/tutorial/notes/` (a snapshot of `stellate new notes
--with orm,rest,auth,tasks`) and then asks the reader to replace `models.py` and
`api.py` with `docs/samples/tutorial_step/`, run `makemigrations` and add a test.
This test does exactly that in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from _docs_env import new_user_env
from click.testing import CliRunner

from stellate.core.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "docs" / "samples" / "tutorial" / "notes"
STEP = ROOT / "docs" / "samples" / "tutorial_step"
#: Folders tools leave behind (running the snapshot's tests or linters), not files of it.
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".stellate"}


def _generator() -> object:
    spec = importlib.util.spec_from_file_location(
        "gen_tutorial_snapshot", ROOT / "docs" / "scripts" / "gen_tutorial_snapshot.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_snapshot_is_what_stellate_new_writes() -> None:
    expected: dict[str, str] = _generator().snapshot()  # type: ignore[attr-defined]
    found = {
        path.relative_to(SNAPSHOT).as_posix(): path.read_text(encoding="utf-8")
        for path in SNAPSHOT.rglob("*")
        if path.is_file() and not CACHES.intersection(path.relative_to(SNAPSHOT).parts)
    }
    assert found == expected, (
        "docs/samples/tutorial/notes differs from what `stellate new` writes: run "
        "`uv run python docs/scripts/gen_tutorial_snapshot.py` and review the tutorial"
    )


def test_tutorial_next_step_migrates_and_passes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["new", "notes", "--with", "orm,rest,auth,tasks", "--directory", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    project = tmp_path / "notes"
    shutil.copy(STEP / "models.py", project / "models.py")
    shutil.copy(STEP / "api.py", project / "api.py")
    shutil.copy(STEP / "test_due.py", project / "tests" / "test_due.py")
    env = new_user_env(PYTHONPATH=str(project))

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], cwd=project, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    made = run(
        "-m",
        "stellate.orm.migrations",
        "makemigrations",
        "--models",
        "models",
        "--name",
        "note_due",
    )
    assert "Add column `due` to `notes`" in made
    assert (project / "migrations" / "0002_note_due.py").is_file()
    sql = run("-m", "stellate.orm.migrations", "sqlmigrate", "0002_note_due")
    assert 'ADD COLUMN "due" DATE' in sql or "ADD COLUMN due DATE" in sql, sql
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert "10 passed" in tests, tests
    # The reader's code, edited as the tutorial says, lints clean with ruff's defaults
    # (migrations are laid out by makemigrations' writer, at 100 columns).
    run(
        "-m",
        "ruff",
        "check",
        "--isolated",
        "--select",
        "E,F,W,I,UP,B",
        "--exclude",
        "migrations",
        ".",
    )
