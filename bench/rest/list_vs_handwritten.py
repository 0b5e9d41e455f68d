"""The bookstore's list endpoint and OpenAPI document against hand-written equivalents.

Two servers, each a fresh uvicorn process (one worker, the same loop, parser and
options, pinned to ``--server-core``), loaded with wrk pinned to ``--wrk-core`` on
loopback:

- ``stellate``: ``examples.bookstore.app`` (``bench/rest/bookstore_app.py``);
- ``handwritten``: Starlette + asyncpg + msgspec running the same two statements
  (``bench/rest/handwritten_app.py``).

Measured pairs (Stellate / hand-written):

- ``list``: ``GET /api/books/``, a cursor page of 20 books with author and
  publisher joined and tags prefetched, against the same SQL and JSON by hand;
- ``openapi``: ``GET /openapi.json`` against a route returning the same bytes.

Before measuring, both servers are started once and must return the same 20 books
(same JSON values) and the same OpenAPI bytes. Each of ``--reps`` repetitions then
starts the servers in an order rotated by one, and measures both endpoints of each
(warm-up, then wrk); requests/s and the server's CPU time per request (from /proc)
are summarized as medians, and the ratios come from the same run.

Usage (from the repository root)::

    uv run python -m bench.rest.list_vs_handwritten            # ~3 minutes
    uv run python -m bench.rest.list_vs_handwritten --help
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import environment
from bench.errors import BenchError
from bench.frameworks import REPO_ROOT, Framework
from bench.scenario_http import service_env
from bench.server import Server, fetch, process_cpu_seconds
from bench.stats import core_busy_seconds, paired_ratios, summarize
from bench.wrk import run_wrk

STELLATE = Framework(
    "stellate",
    "bench.rest.bookstore_app:app",
    REPO_ROOT,
    peer=False,
    description="examples.bookstore (orm, rest, auth, tasks), ModelViewSet list",
)
HANDWRITTEN = Framework(
    "handwritten",
    "bench.rest.handwritten_app:app",
    REPO_ROOT,
    peer=False,
    description="Starlette + asyncpg + msgspec, the same SQL by hand",
)
#: endpoint name -> path on each server
ENDPOINTS = {"list": "/api/books/", "openapi": "/openapi.json"}
TARGETS = {"list": 0.75, "openapi": 0.90}
_SEED_BOOKS = 60


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rest.list_vs_handwritten", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/stellate_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (>= 5 for the report)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of wrk per sample")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of discarded wrk")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--wrk-core", type=int, default=1)
    parser.add_argument("--no-speedups", action="store_true", help="asyncio + h11, not uvloop")
    parser.add_argument("--json", type=Path, default=None, help="where to save every sample")
    options = parser.parse_args(argv)
    if options.reps < 1:
        parser.error(f"--reps must be at least 1, got `{options.reps}`")
    return options


def _migrate(env: dict[str, str]) -> None:
    """Apply the bookstore's migrations to the benchmark database."""
    migrate_env = {
        **os.environ,
        **env,
        "STELLATE_MODELS": "examples.bookstore.models",
        "STELLATE_MIGRATIONS_DIR": "examples/bookstore/migrations",
    }
    result = subprocess.run(
        [sys.executable, "-m", "stellate.orm.migrations", "migrate"],
        cwd=REPO_ROOT,
        env=migrate_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"Migrating the bookstore tables failed:\n{result.stdout}{result.stderr}")


async def _seed(url: str) -> int:
    """Add demo rows until the bookstore has ``_SEED_BOOKS`` books; returns how many exist."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM bookstore_books")
        if count >= _SEED_BOOKS:
            return count
        async with connection.transaction():
            for index in range(4):
                await connection.execute(
                    "INSERT INTO bookstore_publishers (name, country) VALUES ($1, $2) "
                    "ON CONFLICT (name) DO NOTHING",
                    f"Bench Press {index}",
                    "UK",
                )
                await connection.execute(
                    "INSERT INTO bookstore_tags (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    f"bench-{index}",
                )
            for index in range(8):
                await connection.execute(
                    "INSERT INTO bookstore_authors (name, bio) VALUES ($1, $2)",
                    f"Bench Author {index}",
                    "Writes benchmark fixtures.",
                )
            publishers = [
                r[0] for r in await connection.fetch("SELECT id FROM bookstore_publishers")
            ]
            authors = [r[0] for r in await connection.fetch("SELECT id FROM bookstore_authors")]
            tags = [r[0] for r in await connection.fetch("SELECT id FROM bookstore_tags")]
            for index in range(count, _SEED_BOOKS):
                book_id = await connection.fetchval(
                    "INSERT INTO bookstore_books (title, isbn, price, pages, author_id, "
                    "publisher_id, rating, review_count, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 0, 0, now()) RETURNING id",
                    f"Bench Book {index}",
                    f"{9790000000000 + index}",
                    f"{10 + index % 17}.{index % 100:02d}",
                    100 + index,
                    authors[index % len(authors)],
                    publishers[index % len(publishers)],
                )
                for tag in (tags[index % len(tags)], tags[(index + 1) % len(tags)]):
                    await connection.execute(
                        "INSERT INTO bookstore_books_tags (book_id, tag_id) VALUES ($1, $2)",
                        book_id,
                        tag,
                    )
        return int(await connection.fetchval("SELECT count(*) FROM bookstore_books"))
    finally:
        await connection.close()


def _check(loop: str, http: str, core: int, env: dict[str, str], openapi_file: Path) -> None:
    """Fetch the OpenAPI document for the peer and check both servers answer alike.

    Raises:
        BenchError: a server failed, or the two bodies differ.
    """
    answers: dict[str, dict[str, Any]] = {}
    with Server(STELLATE, loop=loop, http=http, core=core, env=env) as server:
        server.start()
        document = fetch(server.port, ENDPOINTS["openapi"])
        openapi_file.write_bytes(document.body)
        answers["stellate"] = {path: fetch(server.port, path) for path in ENDPOINTS.values()}
    with Server(HANDWRITTEN, loop=loop, http=http, core=core, env=env) as server:
        server.start()
        answers["handwritten"] = {path: fetch(server.port, path) for path in ENDPOINTS.values()}
        after = answers["handwritten"][ENDPOINTS["list"]].body
        link = json.loads(after)["next"]
        second = fetch(server.port, ENDPOINTS["list"] + link)
        if second.status != 200 or not json.loads(second.body)["results"]:
            raise BenchError(f"The hand-written cursor link does not work: {second.body[:300]!r}")
    problems = []
    for path in ENDPOINTS.values():
        mine, peer = answers["stellate"][path], answers["handwritten"][path]
        if (mine.status, peer.status) != (200, 200):
            problems.append(f"{path}: statuses {mine.status} and {peer.status}")
        if mine.content_type.split(";")[0] != peer.content_type.split(";")[0]:
            problems.append(f"{path}: content types {mine.content_type} and {peer.content_type}")
    mine_list = json.loads(answers["stellate"][ENDPOINTS["list"]].body)
    peer_list = json.loads(answers["handwritten"][ENDPOINTS["list"]].body)
    if len(mine_list["results"]) != 20:
        problems.append(f"stellate list has {len(mine_list['results'])} books, not 20")
    if mine_list["results"] != peer_list["results"]:
        problems.append(
            "list results differ:\n"
            f"    stellate:    {json.dumps(mine_list['results'][0])}\n"
            f"    handwritten: {json.dumps(peer_list['results'][0])}"
        )
    if not (mine_list["next"] and peer_list["next"]):
        problems.append("one of the lists has no next link")
    mine_doc = answers["stellate"][ENDPOINTS["openapi"]].body
    if mine_doc != answers["handwritten"][ENDPOINTS["openapi"]].body:
        problems.append("the OpenAPI bodies differ")
    if problems:
        raise BenchError("The servers do not answer alike:\n" + "\n".join(problems))
    print(
        f"check: both serve the same 20 books ({len(mine_list['results'])} rows, "
        f"{len(answers['stellate'][ENDPOINTS['list']].body)} bytes) and the same "
        f"{len(mine_doc)}-byte OpenAPI document"
    )


def _measure(
    item: Framework, options: argparse.Namespace, loop: str, http: str, env: dict[str, str]
) -> dict[str, dict[str, float]]:
    """One fresh server of ``item``; both endpoints measured on it, in order."""
    samples = {}
    with Server(item, loop=loop, http=http, core=options.server_core, env=env) as server:
        server.start()
        for name, path in ENDPOINTS.items():
            url = f"http://127.0.0.1:{server.port}{path}"
            run_wrk(url, seconds=options.warmup, connections=options.connections, core=None)
            cpu_before = process_cpu_seconds(server.pid)
            busy_before = core_busy_seconds([options.server_core])[options.server_core]
            result = run_wrk(
                url,
                seconds=options.duration,
                connections=options.connections,
                core=options.wrk_core,
            )
            cpu = process_cpu_seconds(server.pid) - cpu_before
            busy = core_busy_seconds([options.server_core])[options.server_core] - busy_before
            samples[name] = {
                "rps": result.requests_per_second,
                "cpu_us_per_request": cpu / result.requests * 1e6,
                "p50_ms": result.latency_p50_ms or 0.0,
                "others_core_share": max(0.0, busy - cpu) / result.seconds,
            }
    return samples


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and save every sample as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = _parse(args)
    if not options.no_speedups:
        environment.reexec_with_speedups(args, module="bench.rest.list_vs_handwritten")
    try:
        environment.ensure_taskset()
        environment.check_cores(options.server_core, options.wrk_core)
        environment.ensure_wrk()
        environment.ensure_database(options.database_url)
        environment.ensure_redis(options.redis_url)
        env = service_env(options.database_url, options.redis_url, "production")
        _migrate(env)
        books = asyncio.run(_seed(options.database_url))
        loop, http = environment.server_options(speedups=not options.no_speedups)
        print(f"{books} books in the database; uvicorn --loop {loop} --http {http}")
        with tempfile.TemporaryDirectory() as scratch:
            openapi_file = Path(scratch) / "openapi.json"
            env["BENCH_OPENAPI_FILE"] = str(openapi_file)
            _check(loop, http, options.server_core, env, openapi_file)
            runs: dict[str, list[dict[str, dict[str, float]]]] = {"stellate": [], "handwritten": []}
            order = [STELLATE, HANDWRITTEN]
            for rep in range(options.reps):
                for item in order[rep % 2 :] + order[: rep % 2]:
                    sample = _measure(item, options, loop, http, env)
                    runs[item.name].append(sample)
                    print(
                        f"rep {rep + 1}/{options.reps} {item.name:<11} "
                        + "  ".join(
                            f"{name} {s['rps']:8.0f} req/s {s['cpu_us_per_request']:7.0f} µs/req"
                            for name, s in sample.items()
                        ),
                        flush=True,
                    )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = _report(runs, options, loop, http)
    print(report["table"])
    path = options.json or REPO_ROOT / "bench" / "results" / (
        f"rest-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report, "runs": runs}, indent=2))
    print(f"every sample: {path}")
    return 0


def _report(
    runs: dict[str, list[dict[str, dict[str, float]]]],
    options: argparse.Namespace,
    loop: str,
    http: str,
) -> dict[str, Any]:
    lines = [
        f"{options.reps} reps x {options.duration:g}s, wrk -t1 -c{options.connections} on core "
        f"{options.wrk_core}, uvicorn (1 worker, {loop}, {http}) on core {options.server_core}",
        "",
        "| endpoint | stellate req/s | hand-written req/s | ratio (paired min-max) "
        "| stellate CPU µs/req | hand-written CPU µs/req | CPU efficiency | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    summary: dict[str, Any] = {}
    for name in ENDPOINTS:
        mine = [sample[name] for sample in runs["stellate"]]
        peer = [sample[name] for sample in runs["handwritten"]]
        rps = summarize([s["rps"] for s in mine]), summarize([s["rps"] for s in peer])
        cpu = (
            summarize([s["cpu_us_per_request"] for s in mine]),
            summarize([s["cpu_us_per_request"] for s in peer]),
        )
        paired = paired_ratios([s["rps"] for s in mine], [s["rps"] for s in peer])
        ratio = rps[0].median / rps[1].median
        efficiency = cpu[1].median / cpu[0].median
        met = "met" if ratio >= TARGETS[name] and efficiency >= TARGETS[name] else "MISSED"
        lines.append(
            f"| `{ENDPOINTS[name]}` | {rps[0].median:,.0f} ({rps[0].low:,.0f}-{rps[0].high:,.0f}) "
            f"| {rps[1].median:,.0f} ({rps[1].low:,.0f}-{rps[1].high:,.0f}) "
            f"| **{ratio:.2f}x** ({min(paired):.2f}-{max(paired):.2f}) "
            f"| {cpu[0].median:,.0f} | {cpu[1].median:,.0f} | **{efficiency:.2f}x** "
            f"| >= {TARGETS[name]:.2f}x: {met} |"
        )
        summary[name] = {
            "stellate_rps": rps[0].as_dict(),
            "handwritten_rps": rps[1].as_dict(),
            "stellate_cpu_us": cpu[0].as_dict(),
            "handwritten_cpu_us": cpu[1].as_dict(),
            "rps_ratio": ratio,
            "paired_rps_ratios": paired,
            "cpu_efficiency": efficiency,
            "target": TARGETS[name],
        }
    return {
        "table": "\n".join(lines),
        "summary": summary,
        "settings": {**vars(options), "json": str(options.json), "loop": loop, "http": http},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


if __name__ == "__main__":
    raise SystemExit(main())
