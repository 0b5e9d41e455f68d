"""stellate-tasks vs raw arq, measured in one run on one Redis.

    uv run python -m bench.tasks.queue [--redis-url URL] [--jobs 3000] [--reps 3]

Measures, each repetition on fresh keys (a unique prefix, deleted afterwards):

1. enqueue throughput: ``task.enqueue`` vs arq's ``enqueue_job`` (pickle, its
   default), sequential awaits, same number of jobs;
2. worker drain of ``--jobs`` no-op jobs already queued, burst mode: a Stellate worker
   at its defaults vs an arq worker at its defaults vs an arq worker tuned
   (``max_jobs=100, poll_delay=0.01``);
3. enqueue -> result latency of one job at a time (p50/p99) with a Stellate worker
   running.

Reported as medians over the repetitions, with ratios Stellate / arq.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.worker import Worker as ArqWorker

from stellate.core import App
from stellate.tasks import TasksPlugin


async def _noop_arq(ctx: dict[str, Any]) -> None:
    return None


def _stellate_app(redis_url: str, prefix: str) -> tuple[App, Any]:
    app = App(
        plugins=[TasksPlugin()],
        settings={"tasks": {"redis_url": redis_url, "tasks_prefix": prefix}},
    )

    @app.task(name="noop")
    async def noop() -> None:
        return None

    return app, noop


async def _cleanup(redis_url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"*{prefix}*", count=5000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start : start + 1000])
    await client.aclose()


async def enqueue_rates(redis_url: str, jobs: int) -> tuple[float, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    app, noop = _stellate_app(redis_url, prefix)
    await app.tasks.ping()
    start = time.perf_counter()
    for _ in range(jobs):
        await noop.enqueue()
    stellate = jobs / (time.perf_counter() - start)
    await app.tasks.close()

    arq = ArqRedis.from_url(redis_url)
    queue = f"{prefix}arq-queue"
    await arq.ping()
    start = time.perf_counter()
    for _ in range(jobs):
        await arq.enqueue_job("noop", _queue_name=queue, _job_id=f"{prefix}{uuid.uuid4().hex}")
    raw = jobs / (time.perf_counter() - start)
    await arq.aclose()
    await _cleanup(redis_url, prefix)
    return stellate, raw


async def drain_stellate(redis_url: str, jobs: int) -> float:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    app, noop = _stellate_app(redis_url, prefix)
    await asyncio.gather(*(noop.enqueue() for _ in range(jobs)))
    worker = app.tasks.worker(burst=True)
    start = time.perf_counter()
    await worker.run()
    elapsed = time.perf_counter() - start
    assert worker.jobs_complete == jobs, (worker.jobs_complete, jobs)
    await app.tasks.close()
    await _cleanup(redis_url, prefix)
    return jobs / elapsed


async def drain_arq(redis_url: str, jobs: int, **options: Any) -> float:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    queue = f"{prefix}arq-queue"
    pool = ArqRedis.from_url(redis_url)
    pool.default_queue_name = queue
    await asyncio.gather(
        *(pool.enqueue_job("_noop_arq", _job_id=f"{prefix}{uuid.uuid4().hex}") for _ in range(jobs))
    )
    await pool.aclose()
    worker = ArqWorker(
        functions=[_noop_arq],
        queue_name=queue,
        redis_pool=ArqRedis.from_url(redis_url),
        burst=True,
        handle_signals=False,
        **options,
    )
    start = time.perf_counter()
    await worker.async_run()
    elapsed = time.perf_counter() - start
    assert worker.jobs_complete == jobs, (worker.jobs_complete, jobs)
    await worker.pool.aclose()
    await _cleanup(redis_url, prefix)
    return jobs / elapsed


async def latency(redis_url: str, samples: int) -> tuple[float, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    app, noop = _stellate_app(redis_url, prefix)
    timings = []
    async with app.tasks.worker():
        for _ in range(samples):
            start = time.perf_counter()
            await (await noop.enqueue()).result(timeout=10, poll_interval=0.001)
            timings.append((time.perf_counter() - start) * 1000)
    await app.tasks.close()
    await _cleanup(redis_url, prefix)
    timings.sort()
    return timings[len(timings) // 2], timings[int(len(timings) * 0.99) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency-samples", type=int, default=500)
    args = parser.parse_args()

    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for rep in range(args.reps):
        stellate, raw = await enqueue_rates(args.redis_url, args.jobs)
        add("enqueue/s stellate", stellate)
        add("enqueue/s arq", raw)
        add("drain/s stellate (defaults)", await drain_stellate(args.redis_url, args.jobs))
        add("drain/s arq (defaults)", await drain_arq(args.redis_url, args.jobs))
        add(
            "drain/s arq (max_jobs=100, poll_delay=0.01)",
            await drain_arq(args.redis_url, args.jobs, max_jobs=100, poll_delay=0.01),
        )
        p50, p99 = await latency(args.redis_url, args.latency_samples)
        add("latency p50 ms", p50)
        add("latency p99 ms", p99)
        print(f"rep {rep + 1}/{args.reps} done", flush=True)

    median = {name: statistics.median(values) for name, values in rows.items()}
    print()
    for name, values in rows.items():
        spread = ", ".join(f"{v:,.1f}" for v in values)
        print(f"{name:<45} median {median[name]:>10,.1f}   runs: {spread}")
    print()
    print(
        f"enqueue: stellate / arq = {median['enqueue/s stellate'] / median['enqueue/s arq']:.2f}x"
    )
    print(
        "drain: stellate / arq defaults = "
        f"{median['drain/s stellate (defaults)'] / median['drain/s arq (defaults)']:.2f}x"
    )
    tuned = median["drain/s arq (max_jobs=100, poll_delay=0.01)"]
    print(f"drain: stellate / arq tuned = {median['drain/s stellate (defaults)'] / tuned:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
