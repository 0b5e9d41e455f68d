"""The root README's code runs: its first app answers as the README says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stellate.core.testing import AppClient

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


async def test_first_app_of_the_readme_serves_its_route() -> None:
    blocks = _python_blocks()
    assert blocks, "the README has no Python sample any more: update this test"
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    async with AppClient(namespace["app"]) as client:
        assert (await client.get("/items/3")).json() == {"id": 3}
        missing = await client.get("/items/0")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Item not found"}
