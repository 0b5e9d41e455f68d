"""The frameworks a benchmark can serve: where their app lives and which Python runs it."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError

__all__ = [
    "BASELINE",
    "BENCH_DIR",
    "DEFAULT_FRAMEWORKS",
    "FRAMEWORK_NAMES",
    "PEERS_PYTHON",
    "PEERS_VENV",
    "REPO_ROOT",
    "Framework",
    "framework",
    "parse_framework_list",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / "peers" / ".venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"

#: Every ratio is measured against this framework, in the same run.
BASELINE = "starlette"


@dataclass(frozen=True)
class Framework:
    """One server under test.

    Attributes:
        name: short name used on the command line and in reports.
        app: uvicorn's ``module:attribute`` of the ASGI app.
        app_dir: directory put first on ``sys.path`` of the server (uvicorn ``--app-dir``).
        peer: True when the app runs in the separate peers venv (FastAPI, Litestar),
            False when it runs in the workspace's interpreter.
        env: extra environment variables of the server process.
        description: one line for reports.
        venv: name of the peer's own venv under ``bench/.venvs`` (``python -m bench
            suite``); when set it wins over ``peer``.
        server: ``uvicorn`` (the default, the same options for every app), ``gunicorn``
            (sync workers, WSGI: Django's recommended deployment) or ``granian``.
        lifespan: uvicorn ``--lifespan on`` (False for Django, which refuses lifespan).
    """

    name: str
    app: str
    app_dir: Path
    peer: bool
    description: str
    env: Mapping[str, str] = field(default_factory=dict)
    venv: str | None = None
    server: str = "uvicorn"
    lifespan: bool = True

    def python(self) -> Path:
        """The interpreter that runs this framework's server."""
        if self.venv is not None:
            return BENCH_DIR / ".venvs" / self.venv / "bin" / "python"
        return PEERS_PYTHON if self.peer else Path(sys.executable)


_FRAMEWORKS = {
    item.name: item
    for item in (
        Framework(
            "starlette",
            "bench.apps.starlette_app:app",
            REPO_ROOT,
            peer=False,
            description="bare Starlette, JSONResponse route",
        ),
        Framework(
            "stellate",
            "bench.apps.stellate_app:app",
            REPO_ROOT,
            peer=False,
            description="Stellate App, plugins orm, rest, auth, tasks, admin",
        ),
        Framework(
            "stellate-core",
            "bench.apps.stellate_app:app",
            REPO_ROOT,
            peer=False,
            description="Stellate App without plugins (diagnostic)",
            env={"BENCH_STELLATE_PLUGINS": ""},
        ),
        Framework(
            "fastapi",
            "fastapi_app:app",
            BENCH_DIR / "peers",
            peer=True,
            description="FastAPI (peers venv), dict return",
        ),
        Framework(
            "litestar",
            "litestar_app:app",
            BENCH_DIR / "peers",
            peer=True,
            description="Litestar (peers venv), dict return",
        ),
    )
}

FRAMEWORK_NAMES: tuple[str, ...] = tuple(_FRAMEWORKS)
DEFAULT_FRAMEWORKS: tuple[str, ...] = ("starlette", "stellate", "fastapi", "litestar")


def framework(name: str) -> Framework:
    """The framework called ``name``.

    Raises:
        BenchError: ``name`` is not a known framework.
    """
    try:
        return _FRAMEWORKS[name]
    except KeyError:
        raise BenchError(
            f"Unknown framework `{name}`: choose from {', '.join(FRAMEWORK_NAMES)}"
        ) from None


def parse_framework_list(text: str | Sequence[str]) -> list[Framework]:
    """Parse ``"starlette,stellate"`` into frameworks, baseline first, without duplicates.

    Raises:
        BenchError: a name is unknown, or the list names no framework at all.
    """
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else list(text)
    names = [name for name in names if name]
    if not names:
        raise BenchError(
            f"No framework given: pass e.g. `--frameworks {','.join(DEFAULT_FRAMEWORKS)}`"
        )
    chosen = [framework(name) for name in dict.fromkeys(names)]
    # The baseline is always measured: every ratio needs it from the same run.
    if all(item.name != BASELINE for item in chosen):
        chosen.insert(0, framework(BASELINE))
    chosen.sort(key=lambda item: item.name != BASELINE)
    return chosen
