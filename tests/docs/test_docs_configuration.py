"""The configuration reference is generated from the settings Structs and names every variable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "docs" / "scripts" / "gen_configuration.py"
PAGE = ROOT / "docs" / "reference" / "configuration.md"

#: Named in source text but read by no setting (none today).
NOT_SETTINGS: set[str] = set()


def test_page_is_what_the_settings_structs_generate() -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"{done.stderr}\nA settings Struct changed: regenerate the page with "
        "`uv run python docs/scripts/gen_configuration.py` and commit it"
    )


def test_every_variable_in_the_source_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(STELLATE_[A-Z0-9_]+)`", page))
    used: set[str] = set()
    for path in (ROOT / "packages").glob("*/src/**/*.py"):
        used.update(re.findall(r"\b(STELLATE_[A-Z0-9_]*[A-Z0-9])\b", path.read_text("utf-8")))
    prefixes = {name for name in used if name + "_" in {n[: len(name) + 1] for n in documented}}
    missing = sorted(used - documented - NOT_SETTINGS - prefixes)
    assert not missing, f"variables the code reads that the reference omits: {missing}"


def test_reference_lists_each_plugin_and_a_known_default() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for section in ("## Core", "## `orm` plugin", "## `rest` plugin", "## `auth` plugin",
                    "## `tasks` plugin", "## Migration commands"):  # fmt: skip
        assert section in page
    assert "| `STELLATE_POOL_SIZE` | integer (≥ 0) | `0` |" in page
    assert "`STELLATE_DATABASE_URL` or `DATABASE_URL`" in page
