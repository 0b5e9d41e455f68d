"""Write docs/samples/tutorial/notes/: what `stellate new notes --with orm,rest,auth,tasks` creates.

The tutorial includes these files; tests/docs/test_docs_tutorial.py fails when they
differ from what `stellate new` writes today (rerun this script and commit).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stellate.core._scaffold import resolve_features, scaffold_files

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "samples" / "tutorial" / "notes"
FEATURES = "orm,rest,auth,tasks"


def snapshot() -> dict[str, str]:
    """The files, by relative path, without a local-checkout source section."""
    return scaffold_files("notes", resolve_features(FEATURES), None)


def main() -> None:
    shutil.rmtree(TARGET, ignore_errors=True)
    for relative, text in snapshot().items():
        path = TARGET / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
