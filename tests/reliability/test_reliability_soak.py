"""The soak (``python -m tests.reliability.soak``) for two seconds: two uvicorn workers,
32 connections, the mixed workload; no error, no lost or wrong write."""

from __future__ import annotations

from _reliability_serving import Services, uvicorn_server
from soak import check_writes, drive, server_rss_mib


async def test_a_short_soak_has_no_errors_and_loses_no_write(services: Services) -> None:
    env = {**services.env, "STELLATE_POOL_SIZE": "8"}
    extra = ["--workers", "2", "--no-access-log"]
    with uvicorn_server(
        "examples.bookstore.app:app", env, folder=services.folder, extra=extra
    ) as server:
        report, ratings = await drive(
            server.url,
            seconds=2,
            connections=32,
            sample=1,
            rss=lambda: server_rss_mib(server.process.pid),
            workers=2,
        )
    await check_writes(services.postgres.url, ratings, report)
    assert report.errors == 0, report.error_samples
    assert report.requests > 10
    assert report.reviews_written > 0
    assert report.reviews_lost == 0
    assert report.ratings_wrong == 0
    assert report.intervals
    assert all(interval.rss_mib > 20 for interval in report.intervals)
