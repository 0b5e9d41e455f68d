"""Cost of the connection reset on pool release: asyncpg's default vs Stellate's.

Runs N sequential pooled ``SELECT 1`` queries (acquire, query, release) four ways, in
one process against one database, and prints wall and client CPU time per query:

- ``asyncpg pool (default reset)``: ``asyncpg.create_pool`` as shipped, which sends
  ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on every release;
- ``Database reset="full"``: Stellate always resetting (asyncpg's query + DISCARD TEMP);
- ``Database reset="auto"`` (the default): no reset round trip unless the connection
  may carry session state;
- ``asyncpg connection (no pool)``: the floor, one connection, no acquire/release.

Usage: ``uv run python bench/orm_pool_reset.py [URL] [N]``
(URL defaults to STELLATE_TEST_DATABASE_URL, N to 5000).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

import asyncpg

from stellate.orm import Database


async def measure(name: str, run: Callable[[], Awaitable[object]], count: int) -> None:
    for _ in range(200):  # warm up: connections, prepared statements
        await run()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        await run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:34} {wall / count * 1e6:8.1f} µs wall  {cpu / count * 1e6:8.1f} µs CPU")


async def main(url: str, count: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    full = Database(url, alias="full", pool_size=1, reset="full")
    auto = Database(url, alias="auto", pool_size=1, reset="auto")
    await full.connect()
    await auto.connect()
    connection = await asyncpg.connect(url)
    try:
        print(f"{count} sequential pooled `SELECT 1` queries, pool of one connection")
        await measure("asyncpg pool (default reset)", lambda: pool.fetchval("SELECT 1"), count)
        await measure('Database reset="full"', lambda: full.fetchval("SELECT 1"), count)
        await measure('Database reset="auto"', lambda: auto.fetchval("SELECT 1"), count)
        await measure(
            "asyncpg connection (no pool)", lambda: connection.fetchval("SELECT 1"), count
        )
    finally:
        await connection.close()
        await auto.close()
        await full.close()
        await pool.close()


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("STELLATE_TEST_DATABASE_URL")
    if not target:
        sys.exit("Give a database URL or set STELLATE_TEST_DATABASE_URL")
    asyncio.run(main(target, int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
