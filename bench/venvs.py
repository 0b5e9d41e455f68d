"""One virtualenv per peer under ``bench/.venvs/<peer>``, built from its pinned requirements.

None of the peers (FastAPI, Litestar, Django, Tortoise ORM...) is a dependency of a
Stellate package: each lives in its own venv, created with ``uv venv`` and filled
with ``uv pip install -r bench/peers/requirements/<peer>.txt``. A venv is rebuilt
only when its requirements file changed (a sha256 stamp inside the venv).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.frameworks import BENCH_DIR

__all__ = ["PEER_VENVS", "REQUIREMENTS_DIR", "VENVS_DIR", "ensure_venv", "venv_python"]

VENVS_DIR = BENCH_DIR / ".venvs"
REQUIREMENTS_DIR = BENCH_DIR / "peers" / "requirements"

#: venv name -> the Python it needs (None: the workspace's interpreter).
#: Django 6 supports Python 3.12 and later only; the workspace runs 3.11.
PEER_VENVS: dict[str, str | None] = {
    "fastapi": None,
    "litestar": None,
    "django": "3.12",
    "tortoise": None,
    "charts": None,  # matplotlib for the PNG charts
}


def venv_python(name: str) -> Path:
    """The interpreter of venv ``name`` (which may not exist yet)."""
    return VENVS_DIR / name / "bin" / "python"


def _interpreter(version: str | None) -> str:
    """The workspace interpreter, or an installed ``python<version>`` (PATH, then pyenv)."""
    if version is None:
        return os.path.realpath(sys.executable)
    # pyenv's shims refuse versions that are installed but not selected: look past them.
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(pyenv.glob(f"{version}.*/bin/python{version}"))
    if candidates:
        return str(candidates[-1])
    return shutil.which(f"python{version}") or version


def ensure_venv(name: str) -> Path:
    """Build ``bench/.venvs/<name>`` unless it is up to date; returns its interpreter.

    Raises:
        BenchError: the name is unknown, uv is missing, the Python it needs is not
            installed, or the install failed (the message quotes uv).
    """
    if name not in PEER_VENVS:
        raise BenchError(f"Unknown peer venv `{name}`: choose from {', '.join(PEER_VENVS)}")
    requirements = REQUIREMENTS_DIR / f"{name}.txt"
    venv = VENVS_DIR / name
    python = venv_python(name)
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise BenchError(f"uv is not on PATH, so the `{name}` venv cannot be built: pip install uv")
    wanted = _interpreter(PEER_VENVS[name])
    steps = [
        [uv, "venv", "--quiet", "--clear", "--no-python-downloads", "--python", wanted, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements)],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            hint = (
                f" (the `{name}` peer needs Python {PEER_VENVS[name]}: install it, e.g. "
                f"`uv python install {PEER_VENVS[name]}`)"
                if PEER_VENVS[name] and step[1] == "venv"
                else ""
            )
            raise BenchError(
                f"Building bench/.venvs/{name} failed at `{' '.join(step[1:4])}` "
                f"(exit {result.returncode}){hint}: {result.stderr.strip()[-800:]}"
            )
    stamp.write_text(digest)
    return python
