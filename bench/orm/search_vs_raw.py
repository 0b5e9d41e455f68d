"""A full-text search query through stellate-orm against the same SQL on raw asyncpg.

Run: ``uv run python bench/orm/search_vs_raw.py [DATABASE_URL]`` (default: the
``STELLATE_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``).

20,000 posts with a generated, GIN-indexed ``tsvector`` column; the query is a
``websearch`` match ranked with ``ts_rank``, top 20 rows. Raw and ORM repetitions
alternate (9 each, every repetition many calls); per side the median and min-max per
call are printed, for client CPU time (``time.process_time``, the primary figure: what
the ORM adds) and wall time. The raw side runs the ORM's own SQL text, checked to return
the same rows first. Tables live in a scratch schema that is dropped afterwards.
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

from stellate.orm import Field, Model, connect
from stellate.orm.postgres import SearchQuery, SearchRank, SearchVectorField
from stellate.orm.schema import create_table_sql

REPETITIONS = 9
CALLS = 200
WORDS = [
    "python",
    "web",
    "framework",
    "async",
    "database",
    "search",
    "index",
    "rank",
    "query",
    "postgres",
    "fast",
]


class BenchPost(Model):
    class Meta:
        table = "stellate_bench.posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    body: str = Field()
    search: str | None = SearchVectorField(["title", "body"], config="english")


Timed = Callable[[], Awaitable[Any]]


async def measure(fn: Timed) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(CALLS):
        await fn()
    return (time.process_time() - cpu0) / CALLS, (time.perf_counter() - wall0) / CALLS


def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1e6:7.1f} us "
        f"({min(values) * 1e6:.1f}-{max(values) * 1e6:.1f})"
    )


async def main(url: str) -> None:
    raw = await asyncpg.connect(url)
    async with connect(url, pool_size=2) as db:
        await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
        await raw.execute("CREATE SCHEMA stellate_bench")
        try:
            for statement in create_table_sql(BenchPost):
                await raw.execute(statement)
            words = "ARRAY[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
            await raw.execute(
                "INSERT INTO stellate_bench.posts (title, body) "
                f"SELECT ({words})[1 + g % 11] || ' ' || ({words})[1 + g % 7] || ' ' || g, "
                f"'text ' || ({words})[1 + g % 5] || ' ' || ({words})[1 + g % 11] "
                "FROM generate_series(1, 20000) g"
            )
            await raw.execute("ANALYZE stellate_bench.posts")

            def orm_query() -> Any:
                query = SearchQuery(
                    "python framework -slow", config="english", search_type="websearch"
                )
                return (
                    BenchPost.objects.filter(search__search=query)
                    .annotate(rank=SearchRank("search", query))
                    .order_by("-rank", "id")
                    .limit(20)
                )

            compiled = orm_query().to_sql()
            sql, params = compiled.sql, compiled.params
            print(sql)
            orm_rows = await orm_query().all()
            raw_rows = await raw.fetch(sql, *params)
            if [p.id for p in orm_rows] != [r["id"] for r in raw_rows] or len(raw_rows) != 20:
                raise SystemExit("ORM and raw SQL returned different rows: fix the bench")

            built = orm_query()

            async def run_raw() -> None:
                await raw.fetch(sql, *params)

            async def run_orm() -> None:
                await orm_query().all()

            async def run_built() -> None:
                await built.all()

            async def run_pool() -> None:
                await db.fetch(sql, *params)

            sides: dict[str, Timed] = {
                "raw asyncpg": run_raw,
                "orm (queryset built per call)": run_orm,
                "  orm (queryset built once)": run_built,
                "  pool fetch of the same SQL": run_pool,
            }
            results: dict[str, dict[str, list[float]]] = {
                side: {"cpu": [], "wall": []} for side in sides
            }
            for _ in range(REPETITIONS):
                for side, fn in sides.items():
                    cpu, wall = await measure(fn)
                    results[side]["cpu"].append(cpu)
                    results[side]["wall"].append(wall)
            print("full-text search, top 20 of 20,000 rows; per call: median (min-max)")
            raw_side = results["raw asyncpg"]
            for side, figures in results.items():
                line = f"{side:<32}"
                for kind in ("cpu", "wall"):
                    ratio = statistics.median(figures[kind]) / statistics.median(raw_side[kind])
                    line += f"  {kind} {spread(figures[kind])} x{ratio:.2f}"
                print(line)
            print("target: orm / raw <= 1.2")
        finally:
            await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
            await raw.close()


if __name__ == "__main__":
    default = os.environ.get(
        "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
