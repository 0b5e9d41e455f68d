"""Timing loop shared by the ORM micro-benchmark scripts (standard library only).

Each script runs in its ORM's venv (``bench/.venvs/<peer>``, or the workspace for
Stellate and raw asyncpg), imports this module from its own folder and prints one
JSON object: the client CPU time (``time.process_time``) and wall time per
operation, one value per repetition, for each scenario:

- ``fetch_1000``: 1,000 books (all 11 columns) as model instances;
- ``get_pk``: one author by primary key;
- ``bulk_insert_10000``: 10,000 authors in one bulk insert (deleted, untimed, after);
- ``m2m_prefetch``: 100 books with their tags prefetched (the M2M through table).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import inspect
import json
import sys
import time
from collections.abc import Callable
from typing import Any

#: scenario -> (calls per repetition, calls per repetition with --quick)
CALLS = {
    "fetch_1000": (20, 3),
    "get_pk": (300, 30),
    "bulk_insert_10000": (1, 1),
    "m2m_prefetch": (30, 5),
}
BOOKS = 1000
PREFETCH_BOOKS = 100
BULK_ROWS = 10_000
SEEDED_AUTHORS = 50
AUTHOR_PK = 7


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="postgresql://... of the seeded benchmark database")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    return parser.parse_args()


async def _call(fn: Callable[[], Any]) -> Any:
    result = fn()
    if inspect.isawaitable(result):
        result = await result
    return result


async def measure(
    name: str,
    operations: dict[str, Callable[[], Any]],
    cleanup: Callable[[], Any],
    args: argparse.Namespace,
    distributions: tuple[str, ...],
) -> None:
    """Warm every operation up, time ``args.reps`` repetitions, print the JSON."""
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    for scenario, operation in operations.items():
        calls = CALLS[scenario][1 if args.quick else 0]
        result = await _call(operation)  # warm caches, prepared statements, pools
        check = len(result) if isinstance(result, list) else 1
        await _call(cleanup)
        for _ in range(args.reps):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(calls):
                await _call(operation)
            cpu1, wall1 = time.process_time(), time.perf_counter()
            cpu.setdefault(scenario, []).append((cpu1 - cpu0) / calls * 1e6)
            wall.setdefault(scenario, []).append((wall1 - wall0) / calls * 1e6)
            await _call(cleanup)
        cpu[f"{scenario}:rows"] = [float(check)]
    versions = {"python": sys.version.split()[0]}
    for distribution in distributions:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[distribution] = importlib.metadata.version(distribution)
    print(json.dumps({"orm": name, "versions": versions, "cpu_us": cpu, "wall_us": wall}))


def run(main: Callable[[argparse.Namespace], Any]) -> None:
    """Run an async ``main(args)`` (sync ORMs' scripts call ``measure`` from one too)."""
    asyncio.run(main(options()))
