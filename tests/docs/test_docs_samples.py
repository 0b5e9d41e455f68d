"""Every code sample of the documentation runs, against the real database.

The pages include their Python samples from ``docs/samples/*.py`` (pymdownx.snippets),
so what readers see is what runs here. Each sample is imported as a module; the
tables of the models it defines are created inside the ``db`` fixture's rolled-back
transaction, and its ``async def main()`` runs there. Samples state what they show
with plain ``assert`` statements, so a change that breaks documented behaviour fails.
Samples that need Redis read ``STELLATE_REDIS_URL``, which points at the test Redis.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from _docs_env import new_user_env

from stellate.orm import Database, Model
from stellate.orm.testing import create_tables

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SAMPLES = sorted((DOCS / "samples").glob("*.py"))
INCLUDE = re.compile(r'--8<--\s+"([^"]+)"')


def _load(path: Path) -> ModuleType:
    name = f"docs_sample_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _models(module: ModuleType) -> list[type[Model]]:
    """The models the sample defines, in definition order (foreign keys point back)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Model)
        and value.__module__ == module.__name__
    ]


@pytest.fixture
def sample_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a reader's shell would hold: a secret key, the test Redis, no app."""
    for name in list(os.environ):
        if name.startswith("STELLATE_") and not name.startswith("STELLATE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("STELLATE_ENV", "test")
    monkeypatch.setenv("STELLATE_SECRET_KEY", "docs-samples-" + "x" * 50)
    monkeypatch.setenv("STELLATE_AUTH_PASSWORD_PROFILE", "owasp-minimum")
    monkeypatch.setenv("STELLATE_TASKS_PREFIX", f"docs-{uuid.uuid4().hex}:")
    redis_url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if redis_url:
        monkeypatch.setenv("STELLATE_REDIS_URL", redis_url)


@pytest.mark.parametrize("path", SAMPLES, ids=[path.stem for path in SAMPLES])
async def test_sample_runs(path: Path, db: Database, sample_environment: None) -> None:
    module = _load(path)
    try:
        await create_tables(*_models(module))
        main = getattr(module, "main", None)
        if main is not None:
            assert inspect.iscoroutinefunction(main), f"{path.name}: main() must be async"
            await main()
    finally:
        sys.modules.pop(module.__name__, None)


def test_every_sample_is_shown_on_a_page() -> None:
    included: set[str] = set()
    for page in DOCS.rglob("*.md"):
        included.update(INCLUDE.findall(page.read_text(encoding="utf-8")))
    shown = {Path(name.split(":")[0]).name for name in included}
    unused = sorted(path.name for path in SAMPLES if path.name not in shown)
    assert not unused, f"samples no page includes (include them or delete them): {unused}"
    missing = sorted(name for name in included if not (ROOT / name.split(":")[0]).is_file())
    assert not missing, f"pages include samples that do not exist: {missing}"
    sections = []
    for name in included:
        path, _, section = name.partition(":")
        if section and not section[0].isdigit():
            text = (ROOT / path).read_text(encoding="utf-8")
            if f"[start:{section}]" not in text or f"[end:{section}]" not in text:
                sections.append(name)
    assert not sections, f"pages include sections their sample does not mark: {sections}"


def test_no_python_block_is_left_unexecuted() -> None:
    """Python on the pages comes from samples; inline ```python blocks would never run."""
    offenders = []
    for page in sorted(DOCS.rglob("*.md")):
        if page.name == "reliability.md":  # owned and tested by the reliability work
            continue
        text = page.read_text(encoding="utf-8")
        # A block under `<!-- verbatim: path -->` is checked against that file elsewhere.
        if re.search(r"^(?!<!-- verbatim:).*\n```python\s*\n(?!--8<--)", text, flags=re.MULTILINE):
            offenders.append(page.relative_to(ROOT).as_posix())
    assert not offenders, f"inline ```python blocks (move them to docs/samples/): {offenders}"


def test_testing_guide_project_passes_its_own_tests() -> None:
    """The testing guide's conftest and tests, run by pytest as a reader would run them."""
    project = DOCS / "samples" / "testing_project"
    env = new_user_env()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
