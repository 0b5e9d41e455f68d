"""Every package's ``__all__`` is complete and sorted, and the namespace stays PEP 420."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pathlib

import pytest

PACKAGES = ["core", "orm", "rest", "auth", "tasks", "admin"]
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_complete_and_sorted(name: str) -> None:
    module = pytest.importorskip(f"stellate.{name}", reason=f"stellate-{name} is not installed")
    exported = list(module.__all__)
    assert exported == sorted(exported), f"stellate.{name}.__all__ is not sorted"
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and not inspect.ismodule(value)
        and attr != "annotations"
        and getattr(value, "__module__", "").startswith("stellate.")
    }
    missing = public - set(exported)
    assert not missing, f"stellate.{name} defines {sorted(missing)} but does not export them"
    for attr in exported:
        assert hasattr(module, attr), f"stellate.{name}.__all__ names `{attr}`, which is missing"


def test_stellate_is_a_namespace_package() -> None:
    stray = sorted(ROOT.glob("packages/*/src/stellate/__init__.py"))
    assert not stray, f"{stray} breaks the shared `stellate` namespace: delete it"
    import stellate

    assert getattr(stellate, "__file__", None) is None
    importable = [name for name in PACKAGES if importlib.util.find_spec(f"stellate.{name}")]
    assert len(list(stellate.__path__)) == len(importable)
