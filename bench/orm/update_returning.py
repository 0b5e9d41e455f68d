"""``update(score=F("score") + 1, returning=[...])`` against raw ``UPDATE … RETURNING``.

Run: ``uv run python bench/orm/update_returning.py [DATABASE_URL]`` (default: the
``STELLATE_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``).

Issue 4 target: ORM / raw ≤ 1.2. Raw is one ``asyncpg.connect()`` connection running
the hand-written statement (prepared by asyncpg's statement cache); the ORM runs the
queryset through its pool, so its figure includes the pool acquire and the
``returning`` dicts it builds. Raw and ORM calls interleave in blocks of 10 within
each of 9 rounds; each figure is the median per call over rounds with the min-max. Client
CPU time (``time.process_time``) is the primary figure, wall time is printed too.
Tables live in a scratch schema that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from stellate.orm import F, Field, Model, connect
from stellate.orm.schema import create_table_sql

ROUNDS = 9


class BenchAuthor(Model):
    class Meta:
        table = "stellate_bench_update.authors"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class BenchPost(Model):
    class Meta:
        table = "stellate_bench_update.posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    score: int = Field(default=0)
    upvotes: int = Field(default=0)
    author_id: int = Field(foreign_key=BenchAuthor)


Timed = Callable[[], Awaitable[Any]]


BLOCK = 10


async def measure_pair(raw: Timed, orm: Timed, calls: int) -> tuple[float, float, float, float]:
    """CPU and wall time per call of ``raw`` and ``orm``, alternating every ``BLOCK`` calls.

    On a shared machine the load changes from second to second; alternating in small
    blocks gives both sides the same conditions, so their ratio is stable.
    """
    raw_cpu = raw_wall = orm_cpu = orm_wall = 0.0
    for _ in range(calls // BLOCK):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(BLOCK):
            await raw()
        cpu1, wall1 = time.process_time(), time.perf_counter()
        for _ in range(BLOCK):
            await orm()
        cpu2, wall2 = time.process_time(), time.perf_counter()
        raw_cpu += cpu1 - cpu0
        raw_wall += wall1 - wall0
        orm_cpu += cpu2 - cpu1
        orm_wall += wall2 - wall1
    n = calls // BLOCK * BLOCK
    return raw_cpu / n, raw_wall / n, orm_cpu / n, orm_wall / n


def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1e6:7.1f} µs "
        f"[{min(values) * 1e6:6.1f}-{max(values) * 1e6:6.1f}]"
    )


async def compare(name: str, raw: Timed, orm: Timed, calls: int, target: str) -> None:
    for _ in range(20):  # warm the statement caches and the ORM's compiled shape
        await raw()
        await orm()
    raw_cpu: list[float] = []
    raw_wall: list[float] = []
    orm_cpu: list[float] = []
    orm_wall: list[float] = []
    ratios: list[float] = []
    for _ in range(ROUNDS):
        rc, rw, oc, ow = await measure_pair(raw, orm, calls)
        raw_cpu.append(rc)
        raw_wall.append(rw)
        orm_cpu.append(oc)
        orm_wall.append(ow)
        ratios.append(oc / rc)
    cpu_ratio = statistics.median(orm_cpu) / statistics.median(raw_cpu)
    wall_ratio = statistics.median(orm_wall) / statistics.median(raw_wall)
    print(name)
    print(f"  raw cpu {spread(raw_cpu)}   wall {spread(raw_wall)}")
    print(f"  orm cpu {spread(orm_cpu)}   wall {spread(orm_wall)}")
    print(
        f"  ratio cpu {cpu_ratio:.2f} (per round {min(ratios):.2f}-{max(ratios):.2f})  "
        f"wall {wall_ratio:.2f}  target {target}"
    )


async def main(url: str) -> None:
    raw = await asyncpg.connect(url)
    async with connect(url) as db:
        await raw.execute("DROP SCHEMA IF EXISTS stellate_bench_update CASCADE")
        await raw.execute("CREATE SCHEMA stellate_bench_update")
        try:
            for model in (BenchAuthor, BenchPost):
                for statement in create_table_sql(model):
                    await raw.execute(statement)
            await raw.execute(
                "INSERT INTO stellate_bench_update.authors (name) "
                "SELECT 'a' || g FROM generate_series(1, 20) g"
            )
            await raw.execute(
                "INSERT INTO stellate_bench_update.posts (title, score, upvotes, author_id) "
                "SELECT 'post ' || g, 0, 0, 1 + g % 20 FROM generate_series(1, 1000) g"
            )
            await raw.execute("ANALYZE")

            one_sql = (
                "UPDATE stellate_bench_update.posts SET score = score + $1 WHERE id = $2 "
                "RETURNING id, score, author_id"
            )

            async def raw_one() -> list[dict[str, Any]]:
                return [dict(r) for r in await raw.fetch(one_sql, 1, 500)]

            async def orm_one() -> Any:
                return await BenchPost.objects.filter(id=500).update(
                    score=F("score") + 1, returning=["id", "score", "author_id"]
                )

            await compare(
                "update(score=F('score') + 1, returning=[3 columns]) of one row by pk",
                raw_one,
                orm_one,
                300,
                "<= 1.2",
            )

            async def pool_one() -> list[dict[str, Any]]:
                return [dict(r) for r in await db.fetch(one_sql, 1, 500)]

            await compare(
                "  (same SQL through the ORM's pool, no queryset: the pool's share)",
                raw_one,
                pool_one,
                300,
                "(informative)",
            )

            many_sql = (
                "UPDATE stellate_bench_update.posts SET score = score + $1, upvotes = upvotes + "
                "$2 WHERE author_id = $3 RETURNING id, score, upvotes"
            )

            async def raw_many() -> list[dict[str, Any]]:
                return [dict(r) for r in await raw.fetch(many_sql, 1, 1, 7)]

            async def orm_many() -> Any:
                return await BenchPost.objects.filter(author_id=7).update(
                    score=F("score") + 1,
                    upvotes=F("upvotes") + 1,
                    returning=["id", "score", "upvotes"],
                )

            await compare(
                "update of 50 rows, two F() columns, returning 3 columns",
                raw_many,
                orm_many,
                100,
                "<= 1.2",
            )
            check = await raw.fetchval(
                "SELECT count(*) FROM stellate_bench_update.posts WHERE id = 500 AND score > 0"
            )
            assert check == 1, "the updates did not reach the table"
        finally:
            await raw.execute("DROP SCHEMA IF EXISTS stellate_bench_update CASCADE")
            await raw.close()


if __name__ == "__main__":
    default = os.environ.get(
        "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
