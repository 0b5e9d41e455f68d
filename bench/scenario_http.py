"""The ``http`` scenario: a JSON hello route under wrk, one fresh server per repetition."""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import environment
from bench.errors import BenchError
from bench.frameworks import BASELINE, Framework
from bench.server import Answer, Server, fetch, process_cpu_seconds
from bench.stats import core_busy_seconds, paired_ratios, summarize
from bench.wrk import run_wrk

__all__ = ["HttpOptions", "check_answers", "compare_answers", "run_http", "service_env"]

#: The body every app must answer ``GET /`` with.
EXPECTED_BODY: dict[str, str] = {"hello": "world"}


@dataclass
class HttpOptions:
    """Settings of one run of the ``http`` scenario (see ``python -m bench http --help``)."""

    frameworks: list[Framework]
    repetitions: int = 5
    seconds: float = 8.0
    warmup_seconds: float = 2.0
    connections: int = 64
    spawn_rounds: int = 10
    server_core: int = 0
    wrk_core: int = 1
    speedups: bool = True
    database_url: str = environment.DEFAULT_DATABASE_URL
    redis_url: str = environment.DEFAULT_REDIS_URL
    stellate_env: str = "production"
    skipped: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise BenchError naming the first option out of range."""
        limits = [
            ("--reps", self.repetitions, 1),
            ("--duration", self.seconds, 1),
            ("--warmup", self.warmup_seconds, 0),
            ("--connections", self.connections, 1),
            ("--spawn-rounds", self.spawn_rounds, 0),
        ]
        for option, value, minimum in limits:
            if value < minimum:
                raise BenchError(f"{option} is `{value}`: it must be at least {minimum}")

    def estimate_seconds(self) -> float:
        """Rough wall time of the run, to print before starting."""
        per_server = 1.5 + self.warmup_seconds + self.seconds
        count = len(self.frameworks)
        return count * (self.repetitions * per_server + self.spawn_rounds * 1.5 + 1.5)


def service_env(database_url: str, redis_url: str, stellate_env: str) -> dict[str, str]:
    """Environment of every server: the Stellate plugins find their services here.

    Real services are given so no plugin starts an embedded PostgreSQL or Redis
    (their start-up would dominate spawn time and is not what production does).
    """
    return {
        "STELLATE_ENV": stellate_env,
        "STELLATE_DEBUG": "false",
        "STELLATE_SECRET_KEY": secrets.token_urlsafe(48),
        "STELLATE_DATABASE_URL": database_url,
        "STELLATE_REDIS_URL": redis_url,
        "STELLATE_TASKS_PREFIX": "stellate-bench:",
        "STELLATE_PLUGINS": "",
    }


def compare_answers(answers: dict[str, Answer]) -> list[str]:
    """Problems with what the frameworks answered to ``GET /`` (empty when all agree)."""
    problems = []
    for name, answer in answers.items():
        content_type = answer.content_type.split(";")[0].strip()
        try:
            body = json.loads(answer.body)
        except ValueError:
            body = None
        if answer.status != 200:
            problems.append(f"`{name}` answered status {answer.status}, expected 200")
        if content_type != "application/json":
            problems.append(
                f"`{name}` answered content-type `{answer.content_type}`, "
                "expected `application/json`"
            )
        if body != EXPECTED_BODY:
            problems.append(f"`{name}` answered body {answer.body!r}, expected {EXPECTED_BODY}")
    return problems


def check_answers(
    frameworks: Sequence[Framework],
    *,
    loop: str,
    http: str,
    core: int | None,
    env: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, Answer]:
    """Start each framework once, check it answers the expected JSON, stop it.

    This also compiles every module to bytecode before spawn times are measured.

    Raises:
        BenchError: a server failed to start or answered differently from the others.
    """
    answers = {}
    for item in frameworks:
        with Server(item, loop=loop, http=http, core=core, env=env) as server:
            server.start()
            answers[item.name] = fetch(server.port)
        answer = answers[item.name]
        log(f"  {item.name:<14} {answer.status} {answer.content_type:<18} {answer.body!r}")
    problems = compare_answers(answers)
    if problems:
        raise BenchError(
            "The apps do not answer GET / identically, so their speed cannot be compared:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    return answers


def _rotated(items: Sequence[Framework], shift: int) -> list[Framework]:
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def _measure_once(
    item: Framework,
    options: HttpOptions,
    *,
    loop: str,
    http: str,
    env: dict[str, str],
    wrk: str,
) -> dict[str, Any]:
    with Server(item, loop=loop, http=http, core=options.server_core, env=env) as server:
        spawn = server.start()
        if options.warmup_seconds:
            run_wrk(
                server.url,
                seconds=options.warmup_seconds,
                connections=options.connections,
                core=options.wrk_core,
                wrk=wrk,
            )
        cores = (options.server_core, options.wrk_core)
        cpu_before, busy_before, wall_before = (
            process_cpu_seconds(server.pid),
            core_busy_seconds(cores),
            time.perf_counter(),
        )
        result = run_wrk(
            server.url,
            seconds=options.seconds,
            connections=options.connections,
            core=options.wrk_core,
            wrk=wrk,
        )
        cpu_after, busy_after, wall_after = (
            process_cpu_seconds(server.pid),
            core_busy_seconds(cores),
            time.perf_counter(),
        )
        exit_code = server.stop()
        output = server.output()
    cpu = cpu_after - cpu_before
    wall = wall_after - wall_before
    server_core_busy = busy_after[options.server_core] - busy_before[options.server_core]
    return {
        "framework": item.name,
        "spawn_seconds": spawn,
        "requests": result.requests,
        "wrk_seconds": result.seconds,
        "requests_per_second": result.requests_per_second,
        "cpu_seconds": cpu,
        "cpu_us_per_request": cpu * 1e6 / result.requests,
        "latency_p50_ms": result.latency_p50_ms,
        "latency_p99_ms": result.latency_p99_ms,
        "wall_seconds": wall,
        # Share of the server's core that other processes used while measuring: the
        # noise of a shared machine, reported next to the numbers it disturbs.
        "server_core_foreign_share": max(0.0, (server_core_busy - cpu) / wall),
        "wrk_core_busy_share": (busy_after[options.wrk_core] - busy_before[options.wrk_core])
        / wall,
        "server_exit_code": exit_code,
        "server_output_tail": output.strip()[-500:],
    }


def run_http(options: HttpOptions, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the scenario and return its results (what ``bench/results/http-*.json`` holds).

    Raises:
        BenchError: the machine or a server is not fit to measure; the message says why.
    """
    options.validate()
    started = datetime.now(UTC)
    environment.check_cores(options.server_core, options.wrk_core)
    environment.ensure_taskset()
    wrk = environment.ensure_wrk()
    if any(not item.peer and item.name != BASELINE for item in options.frameworks):
        environment.ensure_database(options.database_url)
        environment.ensure_redis(options.redis_url)
    if any(item.peer for item in options.frameworks):
        try:
            environment.ensure_peers_venv()
        except BenchError as exc:
            for item in options.frameworks:
                if item.peer:
                    options.skipped[item.name] = str(exc)
            options.frameworks = [item for item in options.frameworks if not item.peer]
            log(f"warning: peers skipped: {exc}")
    frameworks = options.frameworks
    loop, http = environment.server_options(speedups=options.speedups)
    env = service_env(options.database_url, options.redis_url, options.stellate_env)
    log(
        f"http: {', '.join(item.name for item in frameworks)}; {options.repetitions} reps x "
        f"({options.warmup_seconds:g}s warm-up + {options.seconds:g}s), "
        f"{options.connections} connections, --loop {loop} --http {http}, server on core "
        f"{options.server_core}, wrk on core {options.wrk_core}; "
        f"about {options.estimate_seconds() / 60:.1f} min"
    )
    log("checking every app answers GET / the same way:")
    answers = check_answers(
        frameworks, loop=loop, http=http, core=options.server_core, env=env, log=log
    )

    samples: list[dict[str, Any]] = []
    for repetition in range(options.repetitions):
        for position, item in enumerate(_rotated(frameworks, repetition)):
            sample = _measure_once(item, options, loop=loop, http=http, env=env, wrk=wrk)
            sample.update(repetition=repetition, position=position)
            samples.append(sample)
            log(
                f"  rep {repetition + 1}/{options.repetitions} {item.name:<14} "
                f"{sample['requests_per_second']:>9.0f} req/s "
                f"{sample['cpu_us_per_request']:>7.1f} CPU us/req "
                f"spawn {sample['spawn_seconds'] * 1000:>6.0f} ms "
                f"(others used {sample['server_core_foreign_share']:.0%} of core "
                f"{options.server_core})"
            )

    spawns: dict[str, list[float]] = {
        item.name: [s["spawn_seconds"] for s in samples if s["framework"] == item.name]
        for item in frameworks
    }
    for round_index in range(options.spawn_rounds):
        for item in _rotated(frameworks, round_index):
            with Server(item, loop=loop, http=http, core=options.server_core, env=env) as server:
                spawns[item.name].append(server.start())
    if options.spawn_rounds:
        log(f"  {options.spawn_rounds} extra spawn-to-first-response rounds done")

    finished = datetime.now(UTC)
    return {
        "scenario": "http",
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": environment.machine_info(),
        "versions": environment.versions(frameworks),
        "settings": {
            "repetitions": options.repetitions,
            "seconds": options.seconds,
            "warmup_seconds": options.warmup_seconds,
            "connections": options.connections,
            "wrk_threads": 1,
            "spawn_rounds": options.spawn_rounds,
            "server_core": options.server_core,
            "wrk_core": options.wrk_core,
            "loop": loop,
            "http": http,
            "stellate_env": options.stellate_env,
            "stellate_plugins": _stellate_plugins(frameworks),
        },
        "frameworks": {
            item.name: {
                "description": item.description,
                "app": item.app,
                "peer": item.peer,
                "response_bytes": len(answers[item.name].body),
            }
            for item in frameworks
        },
        "skipped": dict(options.skipped),
        "samples": samples,
        "spawn_seconds": spawns,
        "summary": summarize_http(samples, spawns, [item.name for item in frameworks]),
    }


def _stellate_plugins(frameworks: Sequence[Framework]) -> dict[str, str]:
    from bench.apps import stellate_app_plugins

    return {
        item.name: item.env.get("BENCH_STELLATE_PLUGINS", stellate_app_plugins())
        for item in frameworks
        if item.app.startswith("bench.apps.stellate_app")
    }


def summarize_http(
    samples: Sequence[dict[str, Any]], spawns: dict[str, list[float]], names: Sequence[str]
) -> dict[str, Any]:
    """Medians, ranges and ratios to the baseline of every framework's measurements."""

    def series(name: str, key: str) -> list[float]:
        ordered = sorted(
            (s for s in samples if s["framework"] == name), key=lambda s: s["repetition"]
        )
        return [float(s[key]) for s in ordered]

    base_rps = series(BASELINE, "requests_per_second")
    base_cpu = series(BASELINE, "cpu_us_per_request")
    base_spawn = summarize(spawns[BASELINE]).median
    summary: dict[str, Any] = {}
    for name in names:
        rps, cpu = series(name, "requests_per_second"), series(name, "cpu_us_per_request")
        rps_summary, cpu_summary = summarize(rps), summarize(cpu)
        spawn_summary = summarize(spawns[name])
        base_cpu_median = summarize(base_cpu).median
        summary[name] = {
            "requests_per_second": rps_summary.as_dict(),
            "cpu_us_per_request": cpu_summary.as_dict(),
            "spawn_ms": summarize([value * 1000 for value in spawns[name]]).as_dict(),
            "server_core_foreign_share": summarize(
                series(name, "server_core_foreign_share")
            ).as_dict(),
            # Every ratio reads "higher is better, 1.0 = Starlette" except spawn, where
            # it is the time ratio (lower is better), as the targets are stated.
            "rps_ratio": rps_summary.median / summarize(base_rps).median,
            "rps_ratio_paired": summarize(paired_ratios(rps, base_rps)).as_dict(),
            "cpu_efficiency_ratio": base_cpu_median / cpu_summary.median,
            "cpu_efficiency_ratio_paired": summarize(
                [1 / ratio for ratio in paired_ratios(cpu, base_cpu)]
            ).as_dict(),
            "spawn_ratio": spawn_summary.median / base_spawn,
            # Noise on a shared machine only ever adds time, so the fastest starts are
            # the closest to the true cost; reported beside the target's median ratio.
            "spawn_ratio_of_minimums": spawn_summary.low / min(spawns[BASELINE]),
        }
    return summary
