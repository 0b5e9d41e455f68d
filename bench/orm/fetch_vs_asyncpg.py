"""stellate-orm against raw asyncpg, in one process and one run (client CPU time).

Run: ``uv run python bench/orm/fetch_vs_asyncpg.py [DATABASE_URL]`` (default: the
``STELLATE_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``).

Each scenario alternates raw and ORM repetitions (7 each, every repetition many
calls), takes the median CPU time per call, and prints the ratio ORM / raw. CPU time
(``time.process_time``) is the primary figure: it is what the ORM adds on the client;
wall time is printed too. Tables are created in a scratch schema and dropped after.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import asyncpg

from stellate.orm import Field, Model, connect
from stellate.orm.compiler import compile_select
from stellate.orm.schema import create_table_sql

REPETITIONS = 7


class BenchOwner(Model):
    class Meta:
        table = "stellate_bench.owners"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class BenchCategory(Model):
    class Meta:
        table = "stellate_bench.categories"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()


class BenchItem(Model):
    class Meta:
        table = "stellate_bench.items"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    price: Decimal = Field()
    quantity: int = Field()
    active: bool = Field()
    created_at: dt.datetime = Field()
    owner_id: int = Field(foreign_key=BenchOwner)
    category_id: int = Field(foreign_key=BenchCategory)


Timed = Callable[[], Awaitable[Any]]


async def measure(fn: Timed, calls: int) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await fn()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / calls, (wall1 - wall0) / calls


async def compare(
    name: str,
    raw: Timed,
    orm: Timed,
    calls: int,
    target: str,
    prepare: Callable[[], None] | None = None,
) -> None:
    if prepare is not None:
        prepare()
    await raw()
    await orm()  # warm caches and prepared statements on both sides
    raw_cpu, raw_wall, orm_cpu, orm_wall = [], [], [], []
    for _ in range(REPETITIONS):
        c, w = await measure(raw, calls)
        raw_cpu.append(c)
        raw_wall.append(w)
        if prepare is not None:
            prepare()  # untimed: e.g. building the model instances to insert
        c, w = await measure(orm, calls)
        orm_cpu.append(c)
        orm_wall.append(w)
    rc, oc = statistics.median(raw_cpu), statistics.median(orm_cpu)
    rw, ow = statistics.median(raw_wall), statistics.median(orm_wall)
    print(
        f"{name:<44} raw {rc * 1e3:8.3f} ms cpu ({rw * 1e3:7.3f} wall)  "
        f"orm {oc * 1e3:8.3f} ms cpu ({ow * 1e3:7.3f} wall)  "
        f"ratio cpu {oc / rc:5.2f}  wall {ow / rw:5.2f}  target {target}"
    )


async def main(url: str) -> None:
    raw = await asyncpg.connect(url)
    async with connect(url) as db:
        await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
        await raw.execute("CREATE SCHEMA stellate_bench")
        try:
            for model in (BenchOwner, BenchCategory, BenchItem):
                for statement in create_table_sql(model):
                    await raw.execute(statement)
            await raw.execute(
                "INSERT INTO stellate_bench.owners (name) "
                "SELECT 'o' || g FROM generate_series(1, 50) g"
            )
            await raw.execute(
                "INSERT INTO stellate_bench.categories (name) "
                "SELECT 'c' || g FROM generate_series(1, 20) g"
            )
            await raw.execute(
                "INSERT INTO stellate_bench.items (name, price, quantity, active, created_at, "
                "owner_id, category_id) SELECT 'item ' || g, g * 1.25, g, g % 2 = 0, now(), "
                "1 + g % 50, 1 + g % 20 FROM generate_series(1, 1000) g"
            )
            await raw.execute("ANALYZE")
            columns = ", ".join(f.column for f in BenchItem._meta.field_list)
            fetch_sql = f"SELECT {columns} FROM stellate_bench.items LIMIT 1000"
            await compare(
                "fetch 1,000 rows x 8 columns into models",
                lambda: raw.fetch(fetch_sql),
                lambda: BenchItem.objects.limit(1000).all(),
                20,
                "<= 1.5",
            )
            await compare(
                "  (same, pool fetch without models)",
                lambda: raw.fetch(fetch_sql),
                lambda: db.fetch(fetch_sql),
                20,
                "(pool cost)",
            )
            get_sql = f"SELECT {columns} FROM stellate_bench.items WHERE id = $1"
            await compare(
                "get(pk=...) one row",
                lambda: raw.fetchrow(get_sql, 500),
                lambda: BenchItem.objects.get(pk=500),
                500,
                "<= 1.3",
            )
            await compare(
                "  (same, pool fetchrow without a model)",
                lambda: raw.fetchrow(get_sql, 500),
                lambda: db.fetchrow(get_sql, 500),
                500,
                "(pool cost)",
            )
            join_sql = (
                f"SELECT {', '.join('i.' + c for c in columns.split(', '))}, o.id, o.name, c.id, "
                "c.name FROM stellate_bench.items i LEFT JOIN stellate_bench.owners o ON o.id = "
                "i.owner_id LEFT JOIN stellate_bench.categories c ON c.id = i.category_id "
                "WHERE i.quantity < $1"
            )
            await compare(
                "select_related over two FKs (100 rows)",
                lambda: raw.fetch(join_sql, 101),
                lambda: (
                    BenchItem.objects.select_related("owner", "category")
                    .filter(quantity__lt=101)
                    .all()
                ),
                100,
                "<= 1.3",
            )
            related = BenchItem.objects.select_related("owner", "category").filter(quantity__lt=101)

            async def compile_and_execute() -> None:
                plan, params = compile_select(related._query)
                await db.fetch(plan.sql, *params)

            await compare(
                "  (same, compile + execute without hydration)",
                lambda: raw.fetch(join_sql, 101),
                compile_and_execute,
                100,
                "<= 1.3",
            )
            now = dt.datetime.now(dt.UTC)
            rows = [
                (f"n{i}", Decimal("1.50"), i, True, now, 1 + i % 50, 1 + i % 20)
                for i in range(10_000)
            ]
            insert_sql = (
                "INSERT INTO stellate_bench.items (name, price, quantity, active, created_at, "
                "owner_id, category_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )

            def objects() -> list[BenchItem]:
                return [
                    BenchItem(
                        name=r[0],
                        price=r[1],
                        quantity=r[2],
                        active=r[3],
                        created_at=r[4],
                        owner_id=r[5],
                        category_id=r[6],
                    )
                    for r in rows
                ]

            prepared: list[list[BenchItem]] = []

            def prepare() -> None:
                prepared.append(objects())

            async def orm_bulk() -> None:
                await BenchItem.objects.bulk_create(prepared.pop())

            async def orm_copy() -> None:
                await BenchItem.objects.bulk_create(prepared.pop(), use_copy=True)

            async def orm_build_and_bulk() -> None:
                await BenchItem.objects.bulk_create(objects())

            names = ["name", "price", "quantity", "active", "created_at", "owner_id", "category_id"]
            await compare(
                "bulk_create 10,000 rows vs executemany",
                lambda: raw.executemany(insert_sql, rows),
                orm_bulk,
                1,
                "throughput >= 0.8x (ratio <= 1.25)",
                prepare,
            )
            await compare(
                "  (same, building the 10,000 instances too)",
                lambda: raw.executemany(insert_sql, rows),
                orm_build_and_bulk,
                1,
                "(informative)",
            )
            await compare(
                "bulk_create(use_copy) vs copy_records_to_table",
                lambda: raw.copy_records_to_table(
                    "items", schema_name="stellate_bench", records=rows, columns=names
                ),
                orm_copy,
                1,
                "throughput >= 0.9x (ratio <= 1.11)",
                prepare,
            )
        finally:
            await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
            await raw.close()


if __name__ == "__main__":
    default = os.environ.get(
        "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
