"""``python -m bench SCENARIO``: run a benchmark scenario (``--help`` lists them)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import environment
from bench.errors import BenchError
from bench.frameworks import BENCH_DIR, DEFAULT_FRAMEWORKS, FRAMEWORK_NAMES, parse_framework_list


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Side-by-side benchmarks of Stellate and its peers (see bench/README.md).",
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")

    def common(command: argparse.ArgumentParser, default: Sequence[str]) -> None:
        command.add_argument(
            "--frameworks",
            default=",".join(default),
            help=f"comma-separated, from {', '.join(FRAMEWORK_NAMES)} (starlette is always "
            f"measured: it is the baseline); default {','.join(default)}",
        )
        command.add_argument(
            "--no-speedups",
            dest="speedups",
            action="store_false",
            help="serve with --loop asyncio --http h11 instead of uvloop + httptools",
        )
        command.add_argument("--database-url", default=environment.DEFAULT_DATABASE_URL)
        command.add_argument("--redis-url", default=environment.DEFAULT_REDIS_URL)
        command.add_argument(
            "--stellate-env",
            default="production",
            choices=["development", "test", "production"],
            help="STELLATE_ENV of the Stellate server (default production)",
        )

    http = sub.add_parser(
        "http",
        help="JSON hello route under wrk: req/s, server CPU µs/request, spawn time",
        description="JSON hello route under wrk; ratios to Starlette from the same run.",
    )
    common(http, DEFAULT_FRAMEWORKS)
    http.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    http.add_argument("--duration", type=float, default=8.0, help="measured seconds (8)")
    http.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    http.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    http.add_argument(
        "--spawn-rounds", type=int, default=10, help="extra spawn-only starts per framework (10)"
    )
    http.add_argument("--server-core", type=int, default=0)
    http.add_argument("--wrk-core", type=int, default=1)
    http.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    http.add_argument(
        "--markdown",
        type=Path,
        default=BENCH_DIR / "results" / "http.md",
        help="where to write the readable report (default bench/results/http.md; "
        "bench/RESULTS.md is the suite's)",
    )
    http.add_argument("--no-markdown", dest="markdown", action="store_const", const=None)

    suite = sub.add_parser(
        "suite",
        help="the whole suite: the bookstore API in every peer, ORMs, tasks; writes RESULTS.md",
        description="Every scenario against every peer (bench/README.md); ratios to Stellate.",
    )
    suite.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds per scenario (1 round, 1 s warm-up + 2 s, 16 connections): "
        "checks the harness, not a measurement",
    )
    suite.add_argument(
        "--check-only",
        action="store_true",
        help="build the venvs, load the data and compare every implementation's JSON; no timing",
    )
    suite.add_argument("--implementations", default=None, help="comma-separated (default: all)")
    suite.add_argument(
        "--scenarios", default=None, help="comma-separated HTTP scenarios, and admin"
    )
    suite.add_argument("--orms", default=None, help="comma-separated ORMs ('' for none)")
    suite.add_argument("--no-tasks", dest="tasks", action="store_false")
    suite.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3)")
    suite.add_argument("--duration", type=float, default=None, help="measured seconds (5)")
    suite.add_argument("--warmup", type=float, default=None, help="warm-up seconds (2)")
    suite.add_argument("--connections", type=int, default=None, help="wrk connections (64)")
    suite.add_argument("--server-core", type=int, default=0)
    suite.add_argument("--wrk-core", type=int, default=1)
    suite.add_argument(
        "--no-speedups",
        dest="speedups",
        action="store_false",
        help="serve with --loop asyncio --http h11 instead of uvloop + httptools",
    )
    suite.add_argument("--database-url", default=environment.DEFAULT_DATABASE_URL)
    suite.add_argument("--redis-url", default=environment.DEFAULT_REDIS_URL)
    suite.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    suite.add_argument("--markdown", type=Path, default=BENCH_DIR / "RESULTS.md")
    suite.add_argument("--no-markdown", dest="markdown", action="store_const", const=None)
    suite.add_argument("--charts-dir", type=Path, default=BENCH_DIR / "charts")
    suite.add_argument("--no-charts", dest="charts_dir", action="store_const", const=None)

    report = sub.add_parser(
        "report", help="print a saved http-*.json again (and rewrite RESULTS.md from it)"
    )
    report.add_argument("results", type=Path, help="a bench/results/http-*.json file")
    report.add_argument("--markdown", type=Path, default=None, help="also write this file")

    check = sub.add_parser(
        "check", help="start every app once and check they answer GET / identically"
    )
    common(check, DEFAULT_FRAMEWORKS)

    profile = sub.add_parser(
        "profile", help="cProfile the in-process request path (no server, no wrk)"
    )
    common(profile, ("starlette", "stellate"))
    profile.add_argument("--requests", type=int, default=20_000)
    profile.add_argument("--top", type=int, default=25, help="functions listed per ordering")
    imports = sub.add_parser(
        "imports",
        help="start-up phases and python -X importtime of each server, grouped by package",
    )
    common(imports, ("starlette", "stellate-core", "stellate"))
    imports.add_argument("--samples", type=int, default=5, help="fresh interpreters (5)")
    imports.add_argument("--top", type=int, default=20, help="packages listed (20)")
    return parser


def _run_imports(args: argparse.Namespace) -> int:
    from bench.imports import compare_imports, compare_phases, profile_imports, startup_phases
    from bench.scenario_http import service_env

    if args.samples < 1:
        raise BenchError(f"--samples is `{args.samples}`: it must be at least 1")
    frameworks = parse_framework_list(args.frameworks)
    if any(item.peer for item in frameworks):
        environment.ensure_peers_venv()
    env = service_env(args.database_url, args.redis_url, args.stellate_env)
    phases = [startup_phases(item, env, samples=args.samples) for item in frameworks]
    print(compare_phases([item.name for item in frameworks], phases))
    print()
    profiles = [profile_imports(item, env, samples=args.samples) for item in frameworks]
    print(compare_imports(profiles, args.top))
    return 0


def _run_http(args: argparse.Namespace) -> int:
    from bench.report import http_table, http_verdict, write_http_results
    from bench.scenario_http import HttpOptions, run_http

    options = HttpOptions(
        frameworks=parse_framework_list(args.frameworks),
        repetitions=args.reps,
        seconds=args.duration,
        warmup_seconds=args.warmup,
        connections=args.connections,
        spawn_rounds=args.spawn_rounds,
        server_core=args.server_core,
        wrk_core=args.wrk_core,
        speedups=args.speedups,
        database_url=args.database_url,
        redis_url=args.redis_url,
        stellate_env=args.stellate_env,
    )
    results = run_http(options)
    path = write_http_results(results, args.results_dir, args.markdown)
    print()
    print(http_table(results))
    print()
    for line in http_verdict(results):
        print(line)
    print(f"\nresults: {path}" + (f"\nreport: {args.markdown}" if args.markdown else ""))
    return 0


def _run_suite(args: argparse.Namespace) -> int:
    from bench.suite import SuiteOptions, run_suite

    def names(text: str | None) -> list[str] | None:
        return None if text is None else [part.strip() for part in text.split(",") if part.strip()]

    options = SuiteOptions(
        tasks=args.tasks,
        check_only=args.check_only,
        server_core=args.server_core,
        wrk_core=args.wrk_core,
        speedups=args.speedups,
        database_url=args.database_url,
        redis_url=args.redis_url,
        results_dir=args.results_dir,
        markdown=args.markdown,
        charts_dir=args.charts_dir,
    )
    if args.quick:
        options.apply_quick()
    for option, value in (
        ("implementations", names(args.implementations)),
        ("scenarios", names(args.scenarios)),
        ("orms", names(args.orms)),
        ("rounds", args.rounds),
        ("seconds", args.duration),
        ("warmup", args.warmup),
        ("connections", args.connections),
    ):
        if value is not None:
            setattr(options, option, value)
    if options.rounds < 1 or options.seconds < 1 or options.warmup < 0:
        raise BenchError("--rounds and --duration must be at least 1 and --warmup at least 0")
    results = run_suite(options)
    if options.check_only:
        print("check: every implementation answers alike")
        return 0
    from bench.suite_report import markdown, write_results

    path = write_results(results, options.results_dir, None)
    charts = _charts(path, options.charts_dir)
    write_results(results, options.results_dir, options.markdown, charts)
    print()
    print(markdown(json.loads(path.read_text()), charts))
    print(f"results: {path}" + (f"\nreport: {options.markdown}" if options.markdown else ""))
    return 0


def _charts(results: Path, directory: Path | None) -> list[str]:
    """Draw the PNG charts with matplotlib from bench/.venvs/charts; [] when not possible."""
    import subprocess

    from bench.venvs import ensure_venv

    if directory is None:
        return []
    try:
        python = ensure_venv("charts")
    except BenchError as exc:
        print(f"warning: no charts: {exc}", file=sys.stderr)
        return []
    script = BENCH_DIR / "charts.py"
    done = subprocess.run(
        [str(python), str(script), str(results), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"Drawing the charts failed: {done.stderr.strip()[-1500:]}")
    return done.stdout.split()


def _run_report(args: argparse.Namespace) -> int:
    import json

    from bench.report import http_markdown, http_table, http_verdict

    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"Cannot read results file `{args.results}`: {exc}") from None
    if results.get("scenario") != "http":
        raise BenchError(f"`{args.results}` is not the result of `python -m bench http`")
    print(http_table(results))
    print()
    for line in http_verdict(results):
        print(line)
    if args.markdown is not None:
        args.markdown.write_text(http_markdown(results))
        print(f"report: {args.markdown}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from bench.scenario_http import check_answers, service_env

    frameworks = parse_framework_list(args.frameworks)
    if any(item.peer for item in frameworks):
        environment.ensure_peers_venv()
    if any(not item.peer and item.name != "starlette" for item in frameworks):
        environment.ensure_database(args.database_url)
        environment.ensure_redis(args.redis_url)
    loop, http = environment.server_options(speedups=args.speedups)
    print(f"checking GET / with --loop {loop} --http {http}:")
    env = service_env(args.database_url, args.redis_url, args.stellate_env)
    check_answers(frameworks, loop=loop, http=http, core=None, env=env, log=print)
    print(f"ok: {len(frameworks)} apps answer identically")
    return 0


def _run_profile(args: argparse.Namespace) -> int:
    from bench.profiling import profile_framework
    from bench.scenario_http import service_env

    frameworks = parse_framework_list(args.frameworks)
    if args.requests < 1:
        raise BenchError(f"--requests is `{args.requests}`: it must be at least 1")
    if any(item.name != "starlette" for item in frameworks):
        environment.ensure_database(args.database_url)
        environment.ensure_redis(args.redis_url)
    env = service_env(args.database_url, args.redis_url, args.stellate_env)
    results = [
        profile_framework(item, env, requests=args.requests, top=args.top) for item in frameworks
    ]
    for result in results:
        print(f"==== {result.name}: cProfile of {result.requests} in-process requests ====")
        print(result.report)
    base = results[0]
    print("in-process request path (no sockets), ratios to starlette:")
    for result in results:
        print(
            f"  {result.name:<14} {result.us_per_request:7.1f} µs/request "
            f"({base.us_per_request / result.us_per_request:.2f}x starlette's speed), "
            f"{result.calls_per_request:6.1f} Python calls/request "
            f"(+{result.calls_per_request - base.calls_per_request:.1f})"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench``; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    try:
        if getattr(args, "speedups", False):
            environment.reexec_with_speedups(arguments)
        runner = {
            "http": _run_http,
            "suite": _run_suite,
            "check": _run_check,
            "profile": _run_profile,
            "imports": _run_imports,
            "report": _run_report,
        }
        return runner[args.scenario](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
