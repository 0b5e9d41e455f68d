"""The README's examples run as written (against the test Redis)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from tasks_helpers import new_prefix

README = Path(__file__).parents[2] / "packages" / "tasks" / "README.md"


async def test_readme_example_runs(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 2
    monkeypatch.setenv("STELLATE_REDIS_URL", redis_url)
    monkeypatch.setenv("STELLATE_TASKS_PREFIX", new_prefix())
    module = types.ModuleType("tasks_readme_app")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    app = namespace["app"]
    try:
        await namespace["main"]()
    finally:
        await app.tasks.close()
    assert capsys.readouterr().out.splitlines() == ["19", "[1, 2, 3]"]
    assert len(app.tasks.crons) == 1
