"""Profile one ORM scenario in-process with cProfile and print the top functions.

Run: ``uv run python bench/orm/profile_orm.py SCENARIO [DATABASE_URL]`` where SCENARIO
is ``get``, ``fetch``, ``related``, ``copy`` or ``pool`` (pooled fetchrow without a
model). Tables come from ``fetch_vs_asyncpg.py`` (same models, same data) in a scratch
schema dropped afterwards. Output: the 25 functions with the most own time
(``tottime``) and the 15 with the most cumulative time.
"""

from __future__ import annotations

import asyncio
import cProfile
import datetime as dt
import os
import pstats
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

from fetch_vs_asyncpg import BenchCategory, BenchItem, BenchOwner

from stellate.orm import connect
from stellate.orm.schema import create_table_sql


async def setup(raw: Any) -> None:
    await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
    await raw.execute("CREATE SCHEMA stellate_bench")
    for model in (BenchOwner, BenchCategory, BenchItem):
        for statement in create_table_sql(model):
            await raw.execute(statement)
    await raw.execute(
        "INSERT INTO stellate_bench.owners (name) SELECT 'o' || g FROM generate_series(1, 50) g"
    )
    await raw.execute(
        "INSERT INTO stellate_bench.categories (name) SELECT 'c' || g FROM generate_series(1, 20) g"
    )
    await raw.execute(
        "INSERT INTO stellate_bench.items (name, price, quantity, active, created_at, "
        "owner_id, category_id) SELECT 'item ' || g, g * 1.25, g, g % 2 = 0, now(), "
        "1 + g % 50, 1 + g % 20 FROM generate_series(1, 1000) g"
    )
    await raw.execute("ANALYZE")


async def main(scenario: str, url: str) -> None:
    raw = await asyncpg.connect(url)
    async with connect(url) as db:
        await setup(raw)
        try:
            columns = ", ".join(f.column for f in BenchItem._meta.field_list)
            get_sql = f"SELECT {columns} FROM stellate_bench.items WHERE id = $1"
            now = dt.datetime.now(dt.UTC)

            def objects() -> list[BenchItem]:
                return [
                    BenchItem(
                        name=f"n{i}",
                        price=Decimal("1.50"),
                        quantity=i,
                        active=True,
                        created_at=now,
                        owner_id=1 + i % 50,
                        category_id=1 + i % 20,
                    )
                    for i in range(10_000)
                ]

            batches: list[list[BenchItem]] = []
            if scenario == "get":
                calls = 5000

                async def run() -> None:
                    await BenchItem.objects.get(pk=500)
            elif scenario == "pool":
                calls = 5000

                async def run() -> None:
                    await db.fetchrow(get_sql, 500)
            elif scenario == "fetch":
                calls = 200

                async def run() -> None:
                    await BenchItem.objects.limit(1000).all()
            elif scenario == "related":
                calls = 1000
                query = BenchItem.objects.select_related("owner", "category").filter(
                    quantity__lt=101
                )

                async def run() -> None:
                    await query.all()
            elif scenario == "copy":
                calls = 10
                batches.extend(objects() for _ in range(calls + 1))

                async def run() -> None:
                    await BenchItem.objects.bulk_create(batches.pop(), use_copy=True)
            else:
                raise SystemExit(f"unknown scenario `{scenario}`: get, pool, fetch, related, copy")
            await run()  # warm caches and prepared statements
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await run()
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(15)
            if os.environ.get("CALLERS"):
                stats.print_callers(os.environ["CALLERS"])
            if os.environ.get("CALLEES"):
                stats.print_callees(os.environ["CALLEES"])
        finally:
            await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
            await raw.close()


if __name__ == "__main__":
    default = os.environ.get(
        "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else default))
