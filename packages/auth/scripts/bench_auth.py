"""Measure what session auth costs, and whether logins stall the event loop.

    STELLATE_TEST_DATABASE_URL=postgresql://... uv run python packages/auth/scripts/bench_auth.py

1. Throughput of one JSON route driven in-process through the full ASGI stack
   (no network, so the middleware's cost is as visible as it can be), in one run:
   an app without the auth plugin, the auth app with an anonymous request, and the
   auth app with a logged-in session cookie. Reported as ratios to the first.
2. Event-loop responsiveness: the latency of a health route requested every 5 ms while
   20 logins (argon2id verifications) run concurrently; p50/p99/max reported.

Each throughput figure is the median of 5 runs of ``--seconds`` each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

import httpx

from stellate.core import App, Request
from stellate.core.testing import AppClient

URL = os.environ.get("STELLATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "violet tractor under the sea"  # noqa: S105 - a benchmark account


def build(plugins: list[str]) -> App:
    settings: dict[str, Any] = {
        "orm": {"database_url": URL, "embedded_database": False},
        "secret_key": "bench-" + "x" * 40,
    }
    app = App(plugins=plugins, settings=settings)

    @app.get("/data")
    async def data(request: Request) -> dict[str, Any]:
        user = request.user
        return {"items": [1, 2, 3], "user": user["id"] if user else None}

    @app.get("/ping")
    async def ping(request: Request) -> dict[str, bool]:
        return {"ok": True}

    return app


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> float:
    """Run one GET through ``app``; a refreshed session cookie replaces the one sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for key, value in message["headers"]:
                # Like a browser: keep the cookie the server re-issued.
                if key == b"set-cookie" and value.startswith(b"stellate_session="):
                    headers[:] = [(b"cookie", value.split(b";", 1)[0])]

    started = time.perf_counter()
    await app(scope, receive, send)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return time.perf_counter() - started


async def rate(app: Any, headers: list[tuple[bytes, bytes]], seconds: float) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            await call(app, "/data", headers)
        count += 200
    return count / seconds


async def main(seconds: float) -> None:
    plain = build(["orm"])
    authed = build(["orm", "auth"])
    async with AppClient(plain), AppClient(authed) as client:
        users = authed.auth.users  # type: ignore[attr-defined]
        names = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(20)]
        for name in names:
            await users.create_user(name, PASSWORD)
        response = await client.post(
            "/auth/login", json={"username": names[0], "password": PASSWORD}
        )
        cookie = response.headers["set-cookie"].split(";", 1)[0]
        cookie_header = [(b"cookie", cookie.encode())]

        runs: dict[str, list[float]] = {
            "no auth plugin": [],
            "auth, anonymous": [],
            "auth, session": [],
        }
        for _ in range(5):  # interleaved, so drift hits every variant alike
            runs["no auth plugin"].append(await rate(plain, [], seconds))
            runs["auth, anonymous"].append(await rate(authed, [], seconds))
            runs["auth, session"].append(await rate(authed, cookie_header, seconds))
        base = statistics.median(runs["no auth plugin"])
        anonymous = statistics.median(runs["auth, anonymous"])
        print(f"JSON route, in-process ASGI, median of 5 x {seconds:g}s:")
        for label, values in runs.items():
            median = statistics.median(values)
            jitter = (max(values) - min(values)) / median * 100 / 2
            print(
                f"  {label:16} {median:9.0f} req/s  ratio {median / base:.3f}  jitter {jitter:.1f}%"
            )

        session_ratio = statistics.median(runs["auth, session"]) / anonymous
        print(f"  session-authenticated / unauthenticated (same app): {session_ratio:.3f}")

        latencies: list[float] = []
        done = asyncio.Event()

        async def prober() -> None:
            while not done.is_set():
                latencies.append(await call(authed, "/ping", []))
                await asyncio.sleep(0.005)

        probe = asyncio.create_task(prober())
        await asyncio.sleep(0.2)
        idle = list(latencies)
        latencies.clear()
        started = time.perf_counter()
        # One client per login, as 20 browsers would (no shared session cookie).
        browsers = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=authed), base_url="http://b")
            for _ in names
        ]
        results = await asyncio.gather(
            *(
                browser.post("/auth/login", json={"username": name, "password": PASSWORD})
                for browser, name in zip(browsers, names, strict=True)
            )
        )
        for browser in browsers:
            await browser.aclose()
        elapsed = time.perf_counter() - started
        done.set()
        await probe
        assert all(r.status_code == 200 for r in results), [r.status_code for r in results]
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"health route while 20 logins hash concurrently ({elapsed:.2f}s, "
            f"{len(latencies)} probes): p50 {statistics.median(latencies) * 1000:.2f} ms, "
            f"p99 {cuts[98] * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms "
            f"(idle p50 {statistics.median(idle) * 1000:.2f} ms)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    asyncio.run(main(parser.parse_args().seconds))
