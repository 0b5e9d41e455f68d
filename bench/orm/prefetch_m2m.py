"""``prefetch_related`` of a many-to-many against the same two queries in raw asyncpg.

Run: ``uv run python bench/orm/prefetch_m2m.py [DATABASE_URL]`` (default: the
``STELLATE_TEST_DATABASE_URL`` or ``postgresql://postgres@127.0.0.1:5432/test``).

200 posts, 40 tags, 4 tags per post (800 junction rows). The ORM side is
``Post.objects.order_by("id").limit(200).prefetch_related("tags")``: 200 post
instances, each with its list of tag instances. The raw side is what one writes by
hand on one ``asyncpg.connect()`` connection: the same parent query, the
junction JOIN with ``= ANY($1)`` (one row per post-tag pair), and the tag records
grouped into a list per post id. The ORM's second query instead returns one row per
tag with ``array_agg`` of its posts' keys (fewer rows to decode, one instance per
tag); a second, informative comparison runs that query by hand too. Raw and ORM
repetitions alternate (15 each, every repetition 50 calls); the figures are the
median per call with the min-max of the repetitions, in client CPU time
(``time.process_time``) first and wall time second. Target: CPU ratio <= 1.4.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import asyncpg

from stellate.orm import Field, ManyToManyField, Model, connect
from stellate.orm.schema import create_table_sql

REPETITIONS = 15
CALLS = 50


class BenchTag(Model):
    class Meta:
        table = "stellate_bench.tags"

    id: int = Field(primary_key=True, auto=True)
    name: str = Field()
    slug: str = Field()


class BenchPost(Model):
    class Meta:
        table = "stellate_bench.posts"

    id: int = Field(primary_key=True, auto=True)
    title: str = Field()
    views: int = Field()
    tags: ClassVar[ManyToManyField] = ManyToManyField(BenchTag, through="stellate_bench.posts_tags")


Timed = Callable[[], Awaitable[Any]]


async def measure(fn: Timed) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(CALLS):
        await fn()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / CALLS, (wall1 - wall0) / CALLS


def _spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1e3:6.3f} ms "
        f"({min(values) * 1e3:.3f}-{max(values) * 1e3:.3f})"
    )


async def compare(name: str, raw: Timed, orm: Timed, target: str) -> None:
    await raw()
    await orm()  # warm statement caches and compiled shapes on both sides
    raw_cpu, raw_wall, orm_cpu, orm_wall = [], [], [], []
    for _ in range(REPETITIONS):
        c, w = await measure(raw)
        raw_cpu.append(c)
        raw_wall.append(w)
        c, w = await measure(orm)
        orm_cpu.append(c)
        orm_wall.append(w)
    ratio_cpu = statistics.median(orm_cpu) / statistics.median(raw_cpu)
    ratio_wall = statistics.median(orm_wall) / statistics.median(raw_wall)
    print(name)
    print(f"  raw cpu {_spread(raw_cpu)}   wall {_spread(raw_wall)}")
    print(f"  orm cpu {_spread(orm_cpu)}   wall {_spread(orm_wall)}")
    print(f"  ratio cpu {ratio_cpu:.2f}  wall {ratio_wall:.2f}  ({target})")


async def main(url: str) -> None:
    raw = await asyncpg.connect(url)
    async with connect(url):
        await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
        await raw.execute("CREATE SCHEMA stellate_bench")
        try:
            for model in (BenchTag, BenchPost):
                for statement in create_table_sql(model):
                    # The junction's index name would be schema-qualified (not allowed);
                    # index the target column here instead.
                    if not statement.startswith('CREATE INDEX "stellate_bench".'):
                        await raw.execute(statement)
            await raw.execute(
                f"CREATE INDEX ON stellate_bench.posts_tags ({BenchPost.tags.target_column})"
            )
            await raw.execute(
                "INSERT INTO stellate_bench.tags (name, slug) "
                "SELECT 'Tag ' || g, 'tag-' || g FROM generate_series(1, 40) g"
            )
            await raw.execute(
                "INSERT INTO stellate_bench.posts (title, views) "
                "SELECT 'Post ' || g, g * 7 FROM generate_series(1, 200) g"
            )
            source, target = BenchPost.tags.source_column, BenchPost.tags.target_column
            await raw.execute(
                f"INSERT INTO stellate_bench.posts_tags ({source}, {target}) "
                "SELECT p, 1 + (p * 7 + k * 11) % 40 FROM generate_series(1, 200) p, "
                "generate_series(0, 3) k ON CONFLICT DO NOTHING"
            )
            await raw.execute("ANALYZE")

            posts_sql = "SELECT id, title, views FROM stellate_bench.posts ORDER BY id LIMIT $1"
            tags_sql = (
                f"SELECT j.{source}, t.id, t.name, t.slug FROM stellate_bench.tags AS t "
                f"JOIN stellate_bench.posts_tags AS j ON j.{target} = t.id "
                f"WHERE j.{source} = ANY($1) ORDER BY t.id"
            )

            async def by_hand() -> tuple[list[Any], dict[int, list[Any]]]:
                posts = await raw.fetch(posts_sql, 200)
                rows = await raw.fetch(tags_sql, [p[0] for p in posts])
                groups: dict[int, list[Any]] = {}
                for row in rows:
                    groups.setdefault(row[0], []).append(row)
                return posts, groups

            def with_orm() -> Awaitable[list[BenchPost]]:
                return BenchPost.objects.order_by("id").limit(200).prefetch_related("tags")

            # Same answer on both sides before timing anything.
            posts, groups = await by_hand()
            loaded = await with_orm()
            assert [p.id for p in loaded] == [p[0] for p in posts]
            assert all(
                [t.id for t in post.tags] == [r[1] for r in groups.get(post.id, [])]
                for post in loaded
            )
            assert sum(len(p.tags) for p in loaded) == 800
            await compare(
                "prefetch_related M2M: 200 posts x 4 tags (two queries each side)",
                by_hand,
                with_orm,
                "target cpu <= 1.4",
            )
            # Informative: the ORM's own second query (one row per tag with the keys of
            # its posts) written by hand too, so the ratio is only the ORM's overhead.
            agg_sql = (
                f"SELECT array_agg(j.{source}), t.id, t.name, t.slug "
                "FROM stellate_bench.tags AS t "
                f"JOIN stellate_bench.posts_tags AS j ON j.{target} = t.id "
                f"WHERE j.{source} = ANY($1) GROUP BY t.id ORDER BY t.id"
            )

            async def same_sql_by_hand() -> tuple[list[Any], dict[int, list[Any]]]:
                posts = await raw.fetch(posts_sql, 200)
                groups: dict[int, list[Any]] = {p[0]: [] for p in posts}
                for row in await raw.fetch(agg_sql, list(groups)):
                    for post_id in row[0]:
                        groups[post_id].append(row)
                return posts, groups

            await compare(
                "  (same, the ORM's aggregated second query by hand)",
                same_sql_by_hand,
                with_orm,
                "informative: the ORM's own overhead",
            )
        finally:
            await raw.execute("DROP SCHEMA IF EXISTS stellate_bench CASCADE")
            await raw.close()


if __name__ == "__main__":
    default = os.environ.get(
        "STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
