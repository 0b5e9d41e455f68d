"""A bounded soak of the bookstore: N uvicorn workers, a mixed read/write load, 128 connections.

Run it from the repository root (nothing but loopback traffic; it stops by itself)::

    uv run python -m tests.reliability.soak --seconds 300 --workers 2 --connections 128

It starts a private PostgreSQL and Redis in temporary folders (the machine's services
are never used or stopped), migrates and seeds the bookstore, serves it with
``uvicorn --workers N`` in production mode, then drives it for ``--seconds``:

| share | request |
| --- | --- |
| 55% | ``GET /api/books/`` with a random filter, search or ordering |
| 15% | ``GET /api/books/{pk}/`` |
| 10% | ``GET /api/reviews/?book_id=`` |
| 12% | ``POST /api/reviews/`` (API key) |
| 8% | ``PATCH /api/reviews/{pk}/`` of a review this run wrote |

Every ``--sample`` seconds it records requests, errors, p50/p99 latency and the RSS of
the server processes. At the end it checks that nothing was lost: every review the
server acknowledged is in the database with the last rating it acknowledged. The
report is printed as Markdown and written as JSON (``--json``). Exit status 1 on any
unexpected status, transport error or lost write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import httpx

if __package__:
    from tests.reliability._reliability_serving import (
        Server,
        bookstore_env,
        migrate_and_seed,
        private_postgres,
        private_redis,
        uvicorn_server,
    )
else:  # imported by pytest from tests/reliability/
    from _reliability_serving import (  # type: ignore[no-redef]
        Server,
        bookstore_env,
        migrate_and_seed,
        private_postgres,
        private_redis,
        uvicorn_server,
    )

FILTERS = (
    "page_size=20",
    "price__lte=15&ordering=price",
    "search=the",
    "ordering=-rating",
    "pages__gte=200&page_size=10",
    "category_id__isnull=true",
    "author_id__in=1,2,3",
)


@dataclass
class Interval:
    second: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    rss_mib: float


@dataclass
class Report:
    seconds: float
    workers: int
    connections: int
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    reviews_written: int = 0
    reviews_lost: int = 0
    ratings_wrong: int = 0
    intervals: list[Interval] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.reviews_lost == 0 and self.ratings_wrong == 0

    def markdown(self) -> str:
        lines = [
            f"- {self.seconds:.0f} s, {self.workers} uvicorn worker(s), "
            f"{self.connections} connections, {self.requests} requests "
            f"({self.requests / self.seconds:.0f}/s), {self.errors} errors",
            f"- latency p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms",
            f"- mix: {', '.join(f'{k} {v}' for k, v in sorted(self.by_kind.items()))}",
            f"- reviews written {self.reviews_written}, lost {self.reviews_lost}, "
            f"wrong rating {self.ratings_wrong}",
            "",
            "| t (s) | requests | errors | p50 (ms) | p99 (ms) | server RSS (MiB) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {i.second:.0f} | {i.requests} | {i.errors} | {i.p50_ms:.1f} | {i.p99_ms:.1f} "
            f"| {i.rss_mib:.0f} |"
            for i in self.intervals
        ]
        return "\n".join(lines)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def server_rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its children (uvicorn's workers), in MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
    return total / 1024


async def _api_key(http: httpx.AsyncClient) -> str:
    login = await http.post(
        "/auth/login", json={"username": "editor", "password": "paper-lantern-harbour"}
    )
    login.raise_for_status()
    # Production cookies are `Secure`: httpx keeps them off plain http, so send them.
    cookies = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
    http.cookies.clear()
    key = await http.post(
        "/auth/api-keys",
        json={"name": "soak"},
        headers={"X-CSRF-Token": login.json()["csrf_token"], "Cookie": cookies},
    )
    key.raise_for_status()
    raw: str = key.json()["raw_key"]
    return raw


async def drive(
    url: str,
    *,
    seconds: float,
    connections: int,
    sample: float,
    rss: Callable[[], float],
    workers: int,
) -> tuple[Report, dict[int, int]]:
    """Run the mixed workload; returns the report and the ratings acknowledged per review."""
    report = Report(seconds=seconds, workers=workers, connections=connections)
    ratings: dict[int, int] = {}
    latencies: list[float] = []
    window: list[float] = []
    window_errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        key = {"X-API-Key": await _api_key(http)}
        books = [b["id"] for b in (await http.get("/api/books/?page_size=100")).json()["results"]]
        start = time.monotonic()
        deadline = start + seconds

        async def one(picker: random.Random) -> None:
            nonlocal window_errors
            while time.monotonic() < deadline:
                roll = picker.random()
                if roll < 0.55:
                    kind, request = "list", http.get(f"/api/books/?{picker.choice(FILTERS)}")
                elif roll < 0.70:
                    kind, request = "detail", http.get(f"/api/books/{picker.choice(books)}/")
                elif roll < 0.80:
                    kind = "reviews"
                    request = http.get(f"/api/reviews/?book_id={picker.choice(books)}")
                elif roll < 0.92 or not ratings:
                    kind = "create"
                    body = {"book_id": picker.choice(books), "rating": picker.randint(1, 5)}
                    request = http.post("/api/reviews/", json=body, headers=key)
                else:
                    kind = "update"
                    review = picker.choice(list(ratings))
                    body = {"rating": picker.randint(1, 5)}
                    request = http.patch(f"/api/reviews/{review}/", json=body, headers=key)
                sent = time.monotonic()
                try:
                    response = await request
                except httpx.TransportError as exc:
                    report.errors += 1
                    window_errors += 1
                    if len(report.error_samples) < 10:
                        report.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}")
                    continue
                elapsed = time.monotonic() - sent
                latencies.append(elapsed)
                window.append(elapsed)
                report.requests += 1
                report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
                expected = 201 if kind == "create" else 200
                if response.status_code != expected:
                    report.errors += 1
                    window_errors += 1
                    if len(report.error_samples) < 10:
                        report.error_samples.append(
                            f"{kind}: {response.status_code} {response.text[:200]}"
                        )
                elif kind == "create":
                    created = response.json()
                    ratings[created["id"]] = created["rating"]
                elif kind == "update":
                    ratings[review] = body["rating"]

        async def sampler() -> None:
            nonlocal window, window_errors
            while time.monotonic() < deadline:
                await asyncio.sleep(min(sample, max(deadline - time.monotonic(), 0.01)))
                report.intervals.append(
                    Interval(
                        second=time.monotonic() - start,
                        requests=len(window),
                        errors=window_errors,
                        p50_ms=_percentile(window, 0.50),
                        p99_ms=_percentile(window, 0.99),
                        rss_mib=rss(),
                    )
                )
                window, window_errors = [], 0

        pickers = [random.Random(seed) for seed in range(connections)]
        await asyncio.gather(sampler(), *(one(picker) for picker in pickers))
    report.p50_ms = _percentile(latencies, 0.50)
    report.p99_ms = _percentile(latencies, 0.99)
    report.reviews_written = len(ratings)
    return report, ratings


async def check_writes(database_url: str, ratings: dict[int, int], report: Report) -> None:
    """Every acknowledged review is stored with the last acknowledged rating."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id, rating FROM bookstore_reviews WHERE id = ANY($1::int[])", list(ratings)
        )
    finally:
        await connection.close()
    stored = {row["id"]: row["rating"] for row in rows}
    report.reviews_lost = len(set(ratings) - set(stored))
    report.ratings_wrong = sum(1 for pk, rating in stored.items() if ratings[pk] != rating)


@contextlib.contextmanager
def bookstore(workers: int, folder: Path) -> Iterator[tuple[Server, str]]:
    """The bookstore on private PostgreSQL and Redis, served by ``workers`` uvicorn workers."""
    with private_postgres() as postgres, private_redis() as redis:
        env = bookstore_env(postgres.url, redis.url, STELLATE_POOL_SIZE="10")
        migrate_and_seed(env)
        extra = ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
        with uvicorn_server("examples.bookstore.app:app", env, folder=folder, extra=extra) as s:
            yield s, postgres.url


async def soak(
    *, seconds: float, workers: int, connections: int, sample: float, folder: Path
) -> Report:
    with bookstore(workers, folder) as (server, database_url):
        report, ratings = await drive(
            server.url,
            seconds=seconds,
            connections=connections,
            sample=sample,
            rss=lambda: server_rss_mib(server.process.pid),
            workers=workers,
        )
        await check_writes(database_url, ratings, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--sample", type=float, default=15, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stellate-soak-") as folder:
        report = asyncio.run(
            soak(
                seconds=options.seconds,
                workers=options.workers,
                connections=options.connections,
                sample=options.sample,
                folder=Path(folder),
            )
        )
    print(report.markdown())
    for line in report.error_samples:
        print(f"error: {line}", file=sys.stderr)
    if options.json:
        options.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
