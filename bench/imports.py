"""Where a server's start-up time goes before its first request: ``python -X importtime``.

Spawn-to-first-response is mostly interpreter start plus imports (and building the
app, which happens while its module is imported). This runs, in a fresh interpreter
per sample, exactly what ``uvicorn module:app`` imports, and groups the self time of
every imported module by package, so a slow start can be traced to a dependency.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.errors import BenchError
from bench.frameworks import Framework

__all__ = ["ImportProfile", "compare_imports", "group_import_times", "profile_imports"]

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
