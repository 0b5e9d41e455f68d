"""What authentication costs per request, and whether hashing logins stalls the loop.

One server (``bench/auth/auth_app.py``: orm + auth, one uvicorn worker, pinned to
``--server-core``), loaded with wrk pinned to ``--wrk-core`` on loopback. Two
measurements per repetition, each on a fresh server:

1. ``session``: ``GET /`` with a logged-in session cookie against the same route
   without one (issue 6 target: ≥ 0.85x requests/s). Both wrk runs use the same Lua
   script, which keeps the cookie the server re-issues (as a browser does) so the
   authenticated run exercises the normal path, not a cookie whose check is overdue.
   The order of the two alternates between repetitions.
2. ``loop``: the p99 latency of ``GET /healthz`` (a liveness route, no database) under
   a light wrk load (``--health-connections``), first alone, then while 20 clients
   keep 20 logins in flight (argon2id with the production parameters: each login
   hashes). Reported: both p99s, their ratio, and the logins completed.

Sessions live in PostgreSQL (the default store) unless ``--store redis``.

Usage (from the repository root)::

    uv run python -m bench.auth.session_vs_anonymous            # ~2 minutes
    uv run python -m bench.auth.session_vs_anonymous --reps 3 --duration 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import environment
from bench.errors import BenchError
from bench.frameworks import REPO_ROOT, Framework
from bench.scenario_http import service_env
from bench.server import Server, process_cpu_seconds
from bench.stats import paired_ratios, summarize
from bench.wrk import run_wrk

APP = Framework(
    "stellate-auth",
    "bench.auth.auth_app:app",
    REPO_ROOT,
    peer=False,
    description="App(plugins=['orm', 'auth']): GET /, GET /healthz",
)
TARGET = 0.85
LOGINS_IN_FLIGHT = 20

#: Keeps the session cookie the server sends back, like a browser (both runs use it).
_COOKIE_SCRIPT = """
local headers = {}
local cookie = %s
if cookie ~= "" then headers["Cookie"] = cookie end
-- wrk formats its request once unless `request` is defined: build it each time, so a
-- re-issued cookie is sent from the next request on.
request = function()
  return wrk.format(nil, nil, headers)
end
response = function(status, received, body)
  local sent = received["Set-Cookie"] or received["set-cookie"]
  if sent ~= nil then
    local value = string.match(sent, "^(stellate_session=[^;]+)")
    if value ~= nil then headers["Cookie"] = value end
  end
end
"""


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.auth.session_vs_anonymous", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/stellate_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--store", choices=["postgres", "redis"], default="postgres")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of wrk per sample")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of discarded wrk")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--health-connections", type=int, default=4)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--wrk-core", type=int, default=1)
    parser.add_argument("--no-speedups", action="store_true", help="asyncio + h11, not uvloop")
    parser.add_argument("--json", type=Path, default=None, help="where to save every sample")
    options = parser.parse_args(argv)
    if options.reps < 1:
        parser.error(f"--reps must be at least 1, got `{options.reps}`")
    return options


def _post_login(port: int, username: str, password: str) -> tuple[int, str]:
    """POST /auth/login; the status and the session cookie (``name=value``) set."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            cookies = response.headers.get_all("Set-Cookie") or []
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    session = next((c.split(";", 1)[0] for c in cookies if c.startswith("stellate_session=")), "")
    return status, session


def _script(folder: Path, name: str, cookie: str) -> str:
    path = folder / f"{name}.lua"
    path.write_text(_COOKIE_SCRIPT % json.dumps(cookie))
    return str(path)


def _wrk(url: str, options: argparse.Namespace, *, script: str, connections: int) -> Any:
    return run_wrk(
        url, seconds=options.duration, connections=connections, core=options.wrk_core, script=script
    )


def _measure_session(
    options: argparse.Namespace, loop: str, http: str, env: dict[str, str], rep: int, folder: Path
) -> dict[str, dict[str, float]]:
    samples: dict[str, dict[str, float]] = {}
    with Server(APP, loop=loop, http=http, core=options.server_core, env=env) as server:
        server.start()
        status, cookie = _post_login(
            server.port, env["BENCH_AUTH_USERNAME"], env["BENCH_AUTH_PASSWORD"]
        )
        if status != 200 or not cookie:
            raise BenchError(f"Logging the benchmark user in failed: status {status}")
        url = f"http://127.0.0.1:{server.port}/"
        scripts = {
            "anonymous": _script(folder, "anonymous", ""),
            "session": _script(folder, "session", cookie),
        }
        names = ["anonymous", "session"] if rep % 2 == 0 else ["session", "anonymous"]
        for name in names:
            run_wrk(
                url,
                seconds=options.warmup,
                connections=options.connections,
                core=None,
                script=scripts[name],
            )
            before = process_cpu_seconds(server.pid)
            result = _wrk(url, options, script=scripts[name], connections=options.connections)
            cpu = process_cpu_seconds(server.pid) - before
            samples[name] = {
                "rps": result.requests_per_second,
                "cpu_us_per_request": cpu / result.requests * 1e6,
            }
    return samples


def _measure_loop(
    options: argparse.Namespace, loop: str, http: str, env: dict[str, str], folder: Path
) -> dict[str, float]:
    with Server(APP, loop=loop, http=http, core=options.server_core, env=env) as server:
        server.start()
        url = f"http://127.0.0.1:{server.port}/healthz"
        script = _script(folder, "health", "")
        run_wrk(url, seconds=options.warmup, connections=options.health_connections, core=None)
        quiet = _wrk(url, options, script=script, connections=options.health_connections)
        stop = threading.Event()
        done: list[float] = []
        failures: list[int] = []

        def keep_logging_in() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = _post_login(
                    server.port, env["BENCH_AUTH_USERNAME"], env["BENCH_AUTH_PASSWORD"]
                )
                (done if status == 200 else failures).append(time.perf_counter() - started)

        threads = [threading.Thread(target=keep_logging_in) for _ in range(LOGINS_IN_FLIGHT)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every client has a login in flight before measuring
        busy = _wrk(url, options, script=script, connections=options.health_connections)
        stop.set()
        for thread in threads:
            thread.join()
        if failures:
            raise BenchError(f"{len(failures)} logins failed during the loop measurement")
    return {
        "quiet_p99_ms": quiet.latency_p99_ms or 0.0,
        "quiet_p50_ms": quiet.latency_p50_ms or 0.0,
        "busy_p99_ms": busy.latency_p99_ms or 0.0,
        "busy_p50_ms": busy.latency_p50_ms or 0.0,
        "busy_rps": busy.requests_per_second,
        "logins": float(len(done)),
        "login_p50_s": sorted(done)[len(done) // 2] if done else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run both measurements; print the table and save every sample as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = _parse(args)
    if not options.no_speedups:
        environment.reexec_with_speedups(args, module="bench.auth.session_vs_anonymous")
    sessions: list[dict[str, dict[str, float]]] = []
    loops: list[dict[str, float]] = []
    try:
        environment.ensure_taskset()
        environment.check_cores(options.server_core, options.wrk_core)
        environment.ensure_wrk()
        environment.ensure_database(options.database_url)
        env = service_env(options.database_url, options.redis_url, "production")
        if options.store == "redis":
            environment.ensure_redis(options.redis_url)
        env["STELLATE_AUTH_STORE"] = options.store
        env["BENCH_AUTH_USERNAME"] = "bench-auth-user"
        env["BENCH_AUTH_PASSWORD"] = "violet tractor " + secrets.token_urlsafe(12)
        # A fresh password each run: reset the user so the startup hook recreates it.
        _drop_bench_user(options.database_url, env["BENCH_AUTH_USERNAME"])
        loop, http = environment.server_options(speedups=not options.no_speedups)
        print(f"uvicorn --loop {loop} --http {http}; sessions in {options.store}")
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            for rep in range(options.reps):
                sample = _measure_session(options, loop, http, env, rep, folder)
                sessions.append(sample)
                print(
                    f"rep {rep + 1}/{options.reps} session "
                    + "  ".join(
                        f"{name} {s['rps']:7.0f} req/s {s['cpu_us_per_request']:6.1f} µs/req"
                        for name, s in sample.items()
                    ),
                    flush=True,
                )
                measured = _measure_loop(options, loop, http, env, folder)
                loops.append(measured)
                print(
                    f"rep {rep + 1}/{options.reps} loop    /healthz p99 "
                    f"{measured['quiet_p99_ms']:.2f} ms alone, {measured['busy_p99_ms']:.2f} ms "
                    f"with {LOGINS_IN_FLIGHT} logins in flight "
                    f"({measured['logins']:.0f} logins done)",
                    flush=True,
                )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = _report(sessions, loops, options, loop, http)
    print(report["table"])
    path = options.json or REPO_ROOT / "bench" / "results" / (
        f"auth-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report, "sessions": sessions, "loops": loops}, indent=2))
    print(f"every sample: {path}")
    return 0


def _drop_bench_user(url: str, username: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(url)
        try:
            if await connection.fetchval("SELECT to_regclass('stellate_users')"):
                await connection.execute(
                    "DELETE FROM stellate_users WHERE lower(username) = lower($1)", username
                )
            if await connection.fetchval("SELECT to_regclass('stellate_login_attempts')"):
                await connection.execute("DELETE FROM stellate_login_attempts")
        finally:
            await connection.close()

    asyncio.run(drop())


def _report(
    sessions: list[dict[str, dict[str, float]]],
    loops: list[dict[str, float]],
    options: argparse.Namespace,
    loop: str,
    http: str,
) -> dict[str, Any]:
    anon_rps = [s["anonymous"]["rps"] for s in sessions]
    auth_rps = [s["session"]["rps"] for s in sessions]
    anon_cpu = [s["anonymous"]["cpu_us_per_request"] for s in sessions]
    auth_cpu = [s["session"]["cpu_us_per_request"] for s in sessions]
    rps_ratio = summarize(paired_ratios(auth_rps, anon_rps))
    cpu_ratio = summarize(paired_ratios(anon_cpu, auth_cpu))
    quiet = summarize([m["quiet_p99_ms"] for m in loops])
    busy = summarize([m["busy_p99_ms"] for m in loops])
    logins = summarize([m["logins"] for m in loops])
    login_p50 = summarize([m["login_p50_s"] for m in loops])
    verdict = "met" if rps_ratio.median >= TARGET else "MISSED"
    table = "\n".join(
        [
            f"{options.reps} reps x {options.duration:g}s, wrk -t1 -c{options.connections} on core "
            f"{options.wrk_core}, uvicorn (1 worker, {loop}, {http}) on core "
            f"{options.server_core}, sessions in {options.store}",
            "",
            "| GET / | req/s | server CPU µs/req |",
            "| --- | --- | --- |",
            _row("anonymous", anon_rps, anon_cpu),
            _row("session", auth_rps, auth_cpu),
            "",
            f"session / anonymous: {rps_ratio.median:.2f}x req/s (paired {rps_ratio.low:.2f}-"
            f"{rps_ratio.high:.2f}), {cpu_ratio.median:.2f}x CPU efficiency (paired "
            f"{cpu_ratio.low:.2f}-{cpu_ratio.high:.2f}); target >= {TARGET}x req/s: {verdict}",
            "",
            f"/healthz p99 (wrk -c{options.health_connections}): {_range(quiet, '.2f')} ms alone, "
            f"{_range(busy, '.2f')} ms with {LOGINS_IN_FLIGHT} logins in flight; "
            f"{_range(logins, '.0f')} logins per {options.duration:g}s window, "
            f"login p50 {_range(login_p50, '.2f')} s",
        ]
    )
    return {
        "table": table,
        "session_rps_ratio": rps_ratio.as_dict(),
        "session_cpu_efficiency": cpu_ratio.as_dict(),
        "healthz_p99_quiet_ms": quiet.as_dict(),
        "healthz_p99_busy_ms": busy.as_dict(),
        "store": options.store,
    }


def _row(name: str, rps: list[float], cpu: list[float]) -> str:
    return f"| {name} | {_range(summarize(rps), '.0f')} | {_range(summarize(cpu), '.1f')} |"


def _range(summary: Any, spec: str) -> str:
    return (
        f"{format(summary.median, spec)} ({format(summary.low, spec)}-{format(summary.high, spec)})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
