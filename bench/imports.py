"""Where a server's start-up time goes before its first request: ``python -X importtime``.

Spawn-to-first-response is mostly interpreter start plus imports (and building the
app, which happens while its module is imported). This runs, in a fresh interpreter
per sample, exactly what ``uvicorn module:app`` imports, and groups the self time of
every imported module by package, so a slow start can be traced to a dependency.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.errors import BenchError
from bench.frameworks import Framework

__all__ = [
    "ImportProfile",
    "compare_imports",
    "compare_phases",
    "group_import_times",
    "profile_imports",
    "startup_phases",
]

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)\s*$")


@dataclass(frozen=True)
class ImportProfile:
    """Median import costs of one framework's server module.

    Attributes:
        name: the framework.
        samples: fresh interpreters measured.
        total_ms: median wall time of ``import uvicorn.main, <app module>``.
        by_package: median self time in ms per package (``stellate.orm`` is kept
            apart from ``stellate.core``; third-party packages by top-level name).
    """

    name: str
    samples: int
    total_ms: float
    by_package: dict[str, float]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("stellate", "bench") else parts[0]


def group_import_times(report: str) -> Counter[str]:
    """Self import time in µs per package, from ``-X importtime`` output."""
    grouped: Counter[str] = Counter()
    for line in report.splitlines():
        match = _LINE.match(line)
        if match:
            grouped[_package(match[3])] += int(match[1])
    return grouped


def profile_imports(
    framework: Framework, env: Mapping[str, str], *, samples: int = 5
) -> ImportProfile:
    """Import ``framework``'s app module as uvicorn would, ``samples`` times.

    Raises:
        BenchError: the import failed (the message has the interpreter's error).
    """
    module = framework.app.partition(":")[0]
    code = f"import uvicorn.main, {module}"
    environ = {**os.environ, **env, **framework.env}
    totals: list[float] = []
    grouped: list[Counter[str]] = []
    for _ in range(samples):
        result = subprocess.run(
            [str(framework.python()), "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            cwd=framework.app_dir,
            env=environ,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise BenchError(f"Importing `{module}` for `{framework.name}` failed:\n{tail}")
        counts = group_import_times(result.stderr)
        grouped.append(counts)
        totals.append(sum(counts.values()) / 1000)
    packages = set().union(*grouped)
    by_package = {
        package: statistics.median(counts[package] for counts in grouped) / 1000
        for package in packages
    }
    ordered = dict(sorted(by_package.items(), key=lambda item: -item[1]))
    return ImportProfile(framework.name, samples, statistics.median(totals), ordered)


def compare_imports(profiles: Sequence[ImportProfile], top: int) -> str:
    """A table of packages by the extra import time each framework pays over the first."""
    base = profiles[0]
    lines = [
        "import time (median ms; self time of every module, grouped by package):",
        "  " + "  ".join(f"{profile.name:>14}" for profile in profiles) + "  package",
        "  " + "  ".join(f"{profile.total_ms:14.1f}" for profile in profiles) + "  TOTAL",
    ]
    packages = sorted(
        set().union(*(profile.by_package for profile in profiles)),
        key=lambda package: (
            -max(
                profile.by_package.get(package, 0.0) - base.by_package.get(package, 0.0)
                for profile in profiles
            )
        ),
    )
    for package in packages[:top]:
        cells = "  ".join(f"{profile.by_package.get(package, 0.0):14.1f}" for profile in profiles)
        lines.append(f"  {cells}  {package}")
    return "\n".join(lines)


_PHASES_SCRIPT = """
import asyncio, importlib, json, sys, time
t0 = time.perf_counter()
import uvicorn.main
t1 = time.perf_counter()
module, _, attribute = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module), attribute)
t2 = time.perf_counter()

async def lifespan():
    inbox, outbox = asyncio.Queue(), asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    started = time.perf_counter()
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    elapsed = time.perf_counter() - started
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await task
    return message, elapsed

message, t3 = asyncio.run(lifespan())
print(json.dumps({"import uvicorn": t1 - t0, "import app module (builds the app)": t2 - t1,
                  "lifespan startup": t3, "message": message}))
"""


def startup_phases(
    framework: Framework, env: Mapping[str, str], *, samples: int = 5
) -> dict[str, float]:
    """Median ms of each phase before a server can answer, in fresh interpreters.

    Phases: starting the interpreter (``python -c pass``), importing uvicorn,
    importing the app module (which builds the app), and the ASGI lifespan startup
    (plugins connecting to their services).

    Raises:
        BenchError: a phase failed (the message has the error).
    """
    environ = {**os.environ, **env, **framework.env}
    python = str(framework.python())
    phases: dict[str, list[float]] = {}
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True, env=environ, timeout=60)
        phases.setdefault("interpreter start", []).append(time.perf_counter() - started)
        result = subprocess.run(
            [python, "-c", _PHASES_SCRIPT, framework.app],
            capture_output=True,
            text=True,
            cwd=framework.app_dir,
            env=environ,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise BenchError(f"Starting `{framework.app}` for `{framework.name}` failed:\n{tail}")
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        message = measured.pop("message")
        if message.get("type") != "lifespan.startup.complete":
            raise BenchError(
                f"The lifespan startup of `{framework.name}` failed: {message.get('message', '')}"
            )
        for phase, seconds in measured.items():
            phases.setdefault(phase, []).append(seconds)
    return {phase: statistics.median(values) * 1000 for phase, values in phases.items()}


def compare_phases(names: Sequence[str], phases: Sequence[Mapping[str, float]]) -> str:
    """A table of start-up phases (median ms), one column per framework."""
    lines = [
        "start-up phases (median ms, fresh interpreter each; spawn also has socket setup):",
        "  " + "  ".join(f"{name:>14}" for name in names) + "  phase",
    ]
    for phase in phases[0]:
        cells = "  ".join(f"{values.get(phase, 0.0):14.1f}" for values in phases)
        lines.append(f"  {cells}  {phase}")
    totals = "  ".join(f"{sum(values.values()):14.1f}" for values in phases)
    lines.append(f"  {totals}  TOTAL")
    return "\n".join(lines)
