"""``python -m bench suite``: every scenario against every peer, one command.

Steps (each printed as it runs):

1. machine checks (taskset, two distinct cores, wrk, PostgreSQL, Redis);
2. each peer's venv under ``bench/.venvs`` from its pinned requirements (a peer whose
   venv cannot be built is skipped and the report says why);
3. the bookstore schema migrated and the data set loaded (``bench/peers/dataset.py``);
4. the answer check: every implementation gets every request once and its
   normalised JSON must equal Stellate's (``bench/suite_http.py``), else the run stops;
5. HTTP rounds: each round starts a fresh single-worker server of every
   implementation in turn (order rotated each round), pinned to the server core,
   and runs wrk (pinned to the other core) on each scenario: warm-up, then the
   measured window; server CPU per request from /proc, requests/s from wrk;
6. ORM rounds: each ORM's script in its own venv (``bench/orm_peers``), rotated;
7. task rounds: Stellate's queue against arq (``bench/tasks/queue.py``);
8. the report: ``bench/results/suite-<stamp>.json`` (every sample),
   ``bench/RESULTS.md`` and the PNG charts in ``bench/charts/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import environment
from bench.errors import BenchError
from bench.frameworks import BENCH_DIR
from bench.peers import dataset
from bench.scenario_http import service_env
from bench.server import Server, fetch
from bench.suite_admin import admin_rounds
from bench.suite_http import (
    IMPLEMENTATIONS,
    SCENARIOS,
    Implementation,
    check_implementations,
    measure_server,
)
from bench.venvs import ensure_venv, venv_python

__all__ = ["ORMS", "SuiteOptions", "pypi_reachable", "run_suite"]

ORM_DIR = BENCH_DIR / "orm_peers"

#: ORM name -> (script, venv; None is the workspace interpreter)
ORMS: dict[str, tuple[str, str | None]] = {
    "stellate-orm": ("stellate_orm.py", None),
    "asyncpg": ("asyncpg_raw.py", None),
    "sqlalchemy": ("sqlalchemy_orm.py", "fastapi"),
    "django": ("django_orm.py", "django"),
    "tortoise": ("tortoise_orm.py", "tortoise"),
}


@dataclass
class SuiteOptions:
    """Settings of one ``python -m bench suite`` run (see ``--help``)."""

    implementations: list[str] = field(default_factory=lambda: list(IMPLEMENTATIONS))
    #: the HTTP scenarios, and ``admin`` (the change list vs Django admin, ``suite_admin``)
    scenarios: list[str] = field(
        default_factory=lambda: [*(item.name for item in SCENARIOS), "admin"]
    )
    orms: list[str] = field(default_factory=lambda: list(ORMS))
    rounds: int = 3
    seconds: float = 5.0
    warmup: float = 2.0
    connections: int = 64
    orm_reps: int = 5
    task_jobs: int = 2000
    quick: bool = False
    check_only: bool = False
    tasks: bool = True
    server_core: int = 0
    wrk_core: int = 1
    speedups: bool = True
    database_url: str = environment.DEFAULT_DATABASE_URL
    redis_url: str = environment.DEFAULT_REDIS_URL
    results_dir: Path = BENCH_DIR / "results"
    markdown: Path | None = BENCH_DIR / "RESULTS.md"
    charts_dir: Path | None = BENCH_DIR / "charts"

    def apply_quick(self) -> None:
        """A few seconds per scenario: one round, 1 s warm-up, 2 s measured, 16 connections.

        Fewer connections keep a slow peer's queueing delay (connections ÷ its req/s)
        well inside the 2 s window on a busy machine, so wrk completes requests.
        """
        self.quick = True
        self.rounds = 1
        self.seconds = 2.0
        self.warmup = 1.0
        self.connections = 16
        self.orm_reps = 1
        self.task_jobs = 200


def pypi_reachable(timeout: float = 5.0) -> bool:
    """Whether the package index the peers' venvs install from answers."""
    index = os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
    url = (index or "https://pypi.org/simple/").rstrip("/") + "/pip/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _venvs(
    items: list[Implementation], orms: list[str], log: Callable[[str], None]
) -> dict[str, str]:
    """Build every venv needed; returns venv name -> reason for those that failed."""
    wanted = {item.framework.venv for item in items if item.framework.venv}
    wanted |= {ORMS[name][1] for name in orms if ORMS[name][1]}
    failed: dict[str, str] = {}
    for name in sorted(v for v in wanted if v):
        started = time.perf_counter()
        try:
            ensure_venv(name)
        except BenchError as exc:
            failed[name] = str(exc).splitlines()[0][:300]
            log(f"  bench/.venvs/{name}: FAILED, skipped: {failed[name]}")
            continue
        log(f"  bench/.venvs/{name}: ready ({time.perf_counter() - started:.1f}s)")
    return failed


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, *names], capture_output=True, text=True, check=False
    )
    return json.loads(result.stdout) if result.returncode == 0 else {}


_VENV_DISTRIBUTIONS = {
    "fastapi": ("fastapi", "pydantic", "sqlalchemy", "asyncpg", "starlette", "uvicorn", "granian"),
    "litestar": ("litestar", "advanced-alchemy", "sqlalchemy", "msgspec", "asyncpg", "uvicorn"),
    "django": (
        "django",
        "djangorestframework",
        "drf-spectacular",
        "psycopg",
        "gunicorn",
        "uvicorn",
    ),
    "tortoise": ("tortoise-orm", "pydantic", "asyncpg", "starlette", "uvicorn"),
}
_WORKSPACE_DISTRIBUTIONS = (
    "stellate-core", "stellate-orm", "stellate-rest", "stellate-auth", "stellate-tasks",
    "starlette", "uvicorn", "uvloop", "httptools", "granian", "msgspec", "asyncpg", "arq",
)  # fmt: skip


def _openapi_file(
    loop: str, http: str, env: dict[str, str], path: Path, log: Callable[[str], None]
) -> None:
    """Save Stellate's OpenAPI document: the hand-written peer serves these bytes."""
    with Server(
        IMPLEMENTATIONS["stellate"].framework, loop=loop, http=http, core=None, env=env
    ) as s:
        s.start()
        answer = fetch(s.port, "/openapi.json")
    if answer.status != 200:
        raise BenchError(f"Stellate answered /openapi.json with {answer.status}")
    path.write_bytes(answer.body)
    log(f"  Stellate's OpenAPI document: {len(answer.body):,} bytes (served as is by handwritten)")


def _http_rounds(
    items: list[Implementation],
    options: SuiteOptions,
    loop: str,
    http: str,
    env: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, list[dict[str, dict[str, float]]]]:
    scenarios = [item for item in SCENARIOS if item.name in options.scenarios]
    runs: dict[str, list[dict[str, dict[str, float]]]] = {item.name: [] for item in items}

    def reset() -> None:
        asyncio.run(dataset.reset_writes(options.database_url))

    for number in range(options.rounds):
        shift = number % len(items)
        for item in items[shift:] + items[:shift]:
            chosen = [scenario for scenario in scenarios if scenario.name in item.scenarios]
            if not chosen:
                continue
            sample = measure_server(
                item,
                chosen,
                loop=loop,
                http=http,
                env=env,
                server_core=options.server_core,
                wrk_core=options.wrk_core,
                seconds=options.seconds,
                warmup=options.warmup,
                connections=options.connections,
                after_writes=reset,
            )
            runs[item.name].append(sample)
            log(
                f"  round {number + 1}/{options.rounds} {item.name:<20} "
                + " ".join(
                    f"{name} {s['cpu_us_per_request']:.0f}µs"
                    for name, s in sample.items()
                    if name != "spawn"
                )
            )
    return runs


def _orm_rounds(
    options: SuiteOptions, skipped: dict[str, str], log: Callable[[str], None]
) -> dict[str, Any]:
    names = [name for name in options.orms if ORMS[name][1] not in skipped]
    found: dict[str, Any] = {name: {"cpu_us": {}, "wall_us": {}, "versions": {}} for name in names}
    for number in range(options.rounds):
        shift = number % max(1, len(names))
        for name in names[shift:] + names[:shift]:
            script, venv = ORMS[name]
            python = venv_python(venv) if venv else Path(sys.executable)
            command = [str(python), str(ORM_DIR / script), options.database_url]
            command += ["--reps", str(options.orm_reps)] + (["--quick"] if options.quick else [])
            result = subprocess.run(
                command, capture_output=True, text=True, cwd=ORM_DIR, timeout=900, check=False
            )
            if result.returncode != 0:
                raise BenchError(
                    f"The `{name}` ORM benchmark failed (exit {result.returncode}): "
                    f"{' '.join(command)}\n{result.stderr.strip()[-1500:]}"
                )
            data = json.loads(result.stdout.strip().splitlines()[-1])
            found[name]["versions"] = data["versions"]
            for kind in ("cpu_us", "wall_us"):
                for scenario, values in data[kind].items():
                    if ":" not in scenario:
                        found[name][kind].setdefault(scenario, []).extend(values)
            log(
                f"  round {number + 1}/{options.rounds} {name:<13} "
                + " ".join(
                    f"{scenario} {values[-1]:,.0f}µs"
                    for scenario, values in found[name]["cpu_us"].items()
                )
            )
    return found


def _task_rounds(options: SuiteOptions, log: Callable[[str], None]) -> dict[str, list[float]]:
    from bench.tasks.queue import drain_arq, drain_stellate, enqueue_rates

    rows: dict[str, list[float]] = {}
    for number in range(options.rounds):
        url, jobs = options.redis_url, options.task_jobs
        stellate, raw = asyncio.run(enqueue_rates(url, jobs))
        rows.setdefault("enqueue stellate", []).append(stellate)
        rows.setdefault("enqueue arq", []).append(raw)
        rows.setdefault("drain stellate", []).append(asyncio.run(drain_stellate(url, jobs)))
        rows.setdefault("drain arq defaults", []).append(asyncio.run(drain_arq(url, jobs)))
        rows.setdefault("drain arq tuned", []).append(
            asyncio.run(drain_arq(url, jobs, max_jobs=100, poll_delay=0.01))
        )
        log(
            f"  round {number + 1}/{options.rounds} "
            + " ".join(f"{name} {values[-1]:,.0f}/s" for name, values in rows.items())
        )
    return rows


def _admin(
    items: list[Implementation],
    options: SuiteOptions,
    loop: str,
    http: str,
    env: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, Any] | str:
    """The ``admin`` scenario (``suite_admin``): needs the Django peer's venv."""
    if "django" not in {item.name for item in items}:
        return "not measured: the `django` implementation is not in this run (or its venv failed)"
    log(
        f"admin change list vs Django admin: {options.rounds} round(s), {options.warmup:g}s "
        f"warm-up + {options.seconds:g}s measured, wrk -t1 -c{options.connections}:"
    )
    return admin_rounds(
        rounds=options.rounds,
        loop=loop,
        http=http,
        env=env,
        server_core=options.server_core,
        wrk_core=options.wrk_core,
        seconds=options.seconds,
        warmup=options.warmup,
        connections=options.connections,
        check_only=options.check_only,
        log=log,
    )


def run_suite(options: SuiteOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the suite; returns everything the report needs (and every sample).

    Raises:
        BenchError: a machine requirement is missing, a server failed, or the
            implementations do not answer alike.
    """
    started = datetime.now(UTC)
    environment.ensure_taskset()
    environment.check_cores(options.server_core, options.wrk_core)
    environment.ensure_wrk()
    environment.ensure_database(options.database_url)
    environment.ensure_redis(options.redis_url)
    for name in options.implementations:
        if name not in IMPLEMENTATIONS:
            raise BenchError(
                f"Unknown implementation `{name}`: choose from {', '.join(IMPLEMENTATIONS)}"
            )
    for name in options.orms:
        if name not in ORMS:
            raise BenchError(f"Unknown ORM `{name}`: choose from {', '.join(ORMS)}")
    if "stellate" not in options.implementations:
        raise BenchError("`stellate` must be among --implementations: every ratio is against it")
    log("venvs:")
    skipped = _venvs([IMPLEMENTATIONS[name] for name in options.implementations], options.orms, log)
    items = [
        IMPLEMENTATIONS[name]
        for name in options.implementations
        if IMPLEMENTATIONS[name].framework.venv not in skipped
    ]
    items.sort(key=lambda item: item.name != "stellate")
    loop, http = environment.server_options(speedups=options.speedups)
    env = service_env(options.database_url, options.redis_url, "production")
    log("data set: bookstore schema, " + f"{dataset.BOOKS} books, {dataset.AUTHORS} authors")
    dataset.migrate(env)
    asyncio.run(dataset.seed(options.database_url))
    options.results_dir.mkdir(parents=True, exist_ok=True)
    openapi_file = options.results_dir / "stellate-openapi.json"
    env["BENCH_OPENAPI_FILE"] = str(openapi_file)
    log(f"answer check (uvicorn --loop {loop} --http {http}):")
    _openapi_file(loop, http, env, openapi_file, log)
    check_implementations(items, loop=loop, http=http, env=env, log=log)
    asyncio.run(dataset.reset_writes(options.database_url))
    results: dict[str, Any] = {
        "scenario": "suite",
        "started": started.isoformat(timespec="seconds"),
        "options": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(options).items()
        },
        "server": {"loop": loop, "http": http},
        "implementations": {
            item.name: {"stack": item.stack, "server": item.framework.server} for item in items
        },
        "skipped": skipped,
        "admin": "not in this run's --scenarios",
        "machine": environment.machine_info() | {"platform": platform.platform()},
    }
    if "admin" in options.scenarios:
        results["admin"] = _admin(items, options, loop, http, env, log)
    if options.check_only:
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        return results
    log(
        f"HTTP: {options.rounds} round(s), {options.warmup:g}s warm-up + {options.seconds:g}s "
        f"measured per scenario, wrk -t1 -c{options.connections} on core {options.wrk_core}, "
        f"server on core {options.server_core}:"
    )
    results["http"] = _http_rounds(items, options, loop, http, env, log)
    if options.orms:
        log(f"ORM: {options.rounds} round(s) x {options.orm_reps} repetitions per script:")
        results["orm"] = _orm_rounds(options, skipped, log)
    if options.tasks:
        log(f"tasks: {options.rounds} round(s), {options.task_jobs} no-op jobs:")
        results["tasks"] = _task_rounds(options, log)
    versions = {"workspace": _versions(Path(sys.executable), _WORKSPACE_DISTRIBUTIONS)}
    for venv, names in _VENV_DISTRIBUTIONS.items():
        if venv_python(venv).exists() and venv not in skipped:
            versions[venv] = _versions(venv_python(venv), names)
    results["versions"] = versions
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["machine"]["load_average_end"] = list(os.getloadavg())
    return results
