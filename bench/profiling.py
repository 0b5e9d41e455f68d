"""In-process profile of the request path: no sockets, no server, just the ASGI app.

Complements the ``http`` scenario when a ratio misses: it says *where* the time goes
(cProfile's function names), how many Python function calls one request costs (a
number that does not move with machine noise), and the in-process µs per request.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import runpy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.environment import environ_set
from bench.errors import BenchError
from bench.frameworks import Framework

__all__ = ["ProfileResult", "load_app", "profile_framework"]

ASGIApp = Any
Message = dict[str, Any]

_SCOPE: Message = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 40000),
    "server": ("127.0.0.1", 8000),
}


@dataclass(frozen=True)
class ProfileResult:
    """What profiling one framework's request path found.

    Attributes:
        name: the framework.
        requests: requests driven through the app for each measurement.
        us_per_request: wall µs per request without the profiler (best of 3 rounds).
        calls_per_request: Python function calls per request under cProfile.
        report: pstats listing of the hottest functions.
    """

    name: str
    requests: int
    us_per_request: float
    calls_per_request: float
    report: str


def load_app(framework: Framework, env: Mapping[str, str]) -> ASGIApp:
    """Build ``framework``'s app afresh in this process, with ``env`` set meanwhile.

    Raises:
        BenchError: the framework runs in the peers venv, or building its app failed.
    """
    if framework.peer:
        raise BenchError(
            f"`{framework.name}` lives in the peers venv and cannot be profiled in this "
            "process: profile starlette, stellate or stellate-core"
        )
    module, _, attribute = framework.app.partition(":")
    try:
        with environ_set({**env, **framework.env}):
            return runpy.run_module(module, run_name=f"bench_profile_{framework.name}")[attribute]
    except Exception as exc:
        raise BenchError(
            f"Building the `{framework.name}` app ({framework.app}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


class _Lifespan:
    """Drives an app's ASGI lifespan (startup and shutdown) as uvicorn does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _step(self, kind: str) -> None:
        await self._inbox.put({"type": f"lifespan.{kind}"})
        message = await self._outbox.get()
        if message["type"] != f"lifespan.{kind}.complete":
            raise BenchError(f"The app's lifespan {kind} failed: {message.get('message', '')}")

    async def __aenter__(self) -> _Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._step("startup")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._step("shutdown")
        if self._task is not None:
            await self._task


async def _drive(app: ASGIApp, state: dict[str, Any], count: int) -> None:
    request: Message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(count):
        await app({**_SCOPE, "state": dict(state)}, receive, send)
    bad = [status for status in statuses if status != 200]
    if len(statuses) != count or bad:
        raise BenchError(f"{len(bad)} of {count} in-process requests did not answer 200: {bad[:5]}")


async def _profile(app: ASGIApp, name: str, count: int, top: int) -> ProfileResult:
    async with _Lifespan(app) as lifespan:
        await _drive(app, lifespan.state, min(count, 2000))  # warm caches and lazy imports
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            await _drive(app, lifespan.state, count)
            timings.append(time.perf_counter() - started)
        profiler = cProfile.Profile()
        profiler.enable()
        await _drive(app, lifespan.state, count)
        profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    total_calls: int = stats.total_calls  # type: ignore[attr-defined]
    return ProfileResult(
        name=name,
        requests=count,
        us_per_request=min(timings) * 1e6 / count,
        calls_per_request=total_calls / count,
        report=buffer.getvalue(),
    )


def profile_framework(
    framework: Framework, env: Mapping[str, str], *, requests: int = 20_000, top: int = 25
) -> ProfileResult:
    """Profile ``requests`` in-process ``GET /`` requests through ``framework``'s app.

    Raises:
        BenchError: the app cannot be built, its lifespan fails, or it answers non-200.
    """
    app = load_app(framework, env)
    with environ_set({**env, **framework.env}):
        return asyncio.run(_profile(app, framework.name, requests, top))
