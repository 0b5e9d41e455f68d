"""Fixtures for core tests: real installed distributions made on disk for plugin tests."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def install_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, dict[str, str], str], None]]:
    """Install a tiny distribution (dist-info metadata + one module) onto ``sys.path``.

    The entry points it declares are found by ``importlib.metadata`` exactly as those of
    a pip-installed distribution are.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(dist: str, plugins: dict[str, str], source: str) -> None:
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
        lines = "\n".join(f"{name} = {module}:{attr}" for name, attr in plugins.items())
        (info / "entry_points.txt").write_text(f"[stellate.plugins]\n{lines}\n")
        modules.append(module)

    yield install
    for module in modules:
        sys.modules.pop(module, None)
