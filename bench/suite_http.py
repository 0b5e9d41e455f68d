"""The HTTP part of ``python -m bench suite``: the bookstore API in every peer.

Every implementation serves the same routes on the same database (``bench/peers``):

| scenario | request |
| --- | --- |
| ``plain`` | ``GET /`` → ``{"hello": "world"}`` |
| ``params`` | ``GET /params/42?q=hello&limit=10``: int path parameter, validated query |
| ``get`` | ``GET /api/authors/7/``: one row by primary key |
| ``list`` | ``GET /api/books/``: 20 books, author and publisher joined, tags, cursor |
| ``create`` | ``POST /api/authors/`` with a valid body → 201 (rows deleted after each run) |
| ``invalid`` | ``POST /api/authors/`` with ``{"name": ""}`` → 400 (FastAPI: 422) |
| ``openapi`` | the implementation's OpenAPI document |

Before anything is timed, ``check`` asks every implementation every request and
compares the JSON with Stellate's (see ``normalise``).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.errors import BenchError
from bench.frameworks import BENCH_DIR, REPO_ROOT, Framework
from bench.server import Server, process_tree_cpu_seconds
from bench.stats import core_busy_seconds
from bench.wrk import run_wrk

__all__ = [
    "IMPLEMENTATIONS",
    "SCENARIOS",
    "Implementation",
    "Scenario",
    "check_implementations",
    "measure_server",
    "normalise",
]

PEERS_DIR = BENCH_DIR / "peers"


@dataclass(frozen=True)
class Scenario:
    """One request, timed with wrk against every implementation that serves it."""

    name: str
    title: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    expect: tuple[int, ...] = (200,)
    writes: bool = False

    def wrk_script(self, directory: Path) -> str | None:
        """A Lua script making wrk send this method and body (None for a plain GET)."""
        if self.method == "GET":
            return None
        body = json.dumps(self.body).replace("\\", "\\\\").replace("'", "\\'")
        script = directory / f"{self.name}.lua"
        script.write_text(
            f'wrk.method = "{self.method}"\n'
            f"wrk.body = '{body}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        return str(script)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plain", "plain JSON", "GET", "/"),
    Scenario("params", "path parameter + query validation", "GET", "/params/42?q=hello&limit=10"),
    Scenario("get", "one row by primary key", "GET", "/api/authors/7/"),
    Scenario("list", "list of 20, two joined FKs, tags, cursor", "GET", "/api/books/"),
    Scenario(
        "create",
        "create with body validation (201)",
        "POST",
        "/api/authors/",
        body={"name": "Bench Author", "bio": "Created by wrk."},
        expect=(201,),
        writes=True,
    ),
    Scenario(
        "invalid",
        "create, invalid body (400)",
        "POST",
        "/api/authors/",
        body={"name": "", "bio": "x"},
        expect=(400, 422),
    ),
    Scenario("openapi", "/openapi.json", "GET", "/openapi.json"),
)
SCENARIO_NAMES = tuple(item.name for item in SCENARIOS)


@dataclass(frozen=True)
class Implementation:
    """A framework serving the bookstore, and what differs legitimately in its answers."""

    framework: Framework
    stack: str
    openapi_path: str = "/openapi.json"
    scenarios: tuple[str, ...] = SCENARIO_NAMES

    @property
    def name(self) -> str:
        return self.framework.name

    def path(self, scenario: Scenario) -> str:
        return self.openapi_path if scenario.name == "openapi" else scenario.path


def _peer(
    name: str, app: str, venv: str, description: str, server: str = "uvicorn", lifespan: bool = True
) -> Framework:
    return Framework(
        name,
        app,
        PEERS_DIR,
        peer=True,
        description=description,
        venv=venv,
        server=server,
        lifespan=lifespan,
    )


_STELLATE = Framework(
    "stellate",
    "bench.peers.stellate_bookstore:app",
    REPO_ROOT,
    peer=False,
    description="Stellate (orm, rest, auth, tasks): ModelViewSet, ModelSerializer",
)
_HANDWRITTEN = Framework(
    "handwritten",
    "bench.rest.handwritten_app:app",
    REPO_ROOT,
    peer=False,
    description="Starlette + asyncpg + msgspec by hand: the physical limit",
)

#: Every implementation of the bookstore, Stellate first (ratios are against it).
IMPLEMENTATIONS: dict[str, Implementation] = {
    item.name: item
    for item in (
        Implementation(_STELLATE, "Stellate: orm + rest (ModelViewSet) + auth + tasks plugins"),
        Implementation(_HANDWRITTEN, "Starlette + asyncpg + msgspec, SQL by hand"),
        Implementation(
            _peer("fastapi", "fastapi_bookstore:app", "fastapi", "FastAPI + SQLAlchemy + Pydantic"),
            "FastAPI + SQLAlchemy 2 async (asyncpg) + Pydantic",
        ),
        Implementation(
            _peer("litestar", "litestar_bookstore:app", "litestar", "Litestar + SQLAlchemy"),
            "Litestar + SQLAlchemy plugin (advanced-alchemy, asyncpg) + msgspec",
            openapi_path="/schema/openapi.json",
        ),
        Implementation(
            _peer(
                "django",
                "djangobench.wsgi:application",
                "django",
                "Django + DRF under gunicorn (1 sync worker)",
                server="gunicorn",
            ),
            "Django 6 + DRF (ModelViewSet), gunicorn 1 sync worker, psycopg 3",
        ),
        Implementation(
            _peer(
                "django-asgi",
                "djangobench.asgi:application",
                "django",
                "Django + DRF, ASGI",
                lifespan=False,
            ),
            "the same Django project under uvicorn (ASGI; --lifespan off: Django refuses it)",
        ),
        Implementation(
            _peer("tortoise", "tortoise_bookstore:app", "tortoise", "Tortoise ORM on Starlette"),
            "Tortoise ORM (asyncpg) on Starlette + Pydantic",
        ),
        # Granian as the alternative server, on plain JSON and the DB list.
        Implementation(
            Framework(
                "stellate@granian",
                _STELLATE.app,
                REPO_ROOT,
                peer=False,
                description="Stellate under granian",
                server="granian",
            ),
            "Stellate under granian (1 worker, 1 runtime thread)",
            scenarios=("plain", "list"),
        ),
        Implementation(
            Framework(
                "handwritten@granian",
                _HANDWRITTEN.app,
                REPO_ROOT,
                peer=False,
                description="hand-written under granian",
                server="granian",
            ),
            "hand-written under granian",
            scenarios=("plain", "list"),
        ),
        Implementation(
            _peer(
                "fastapi@granian",
                "fastapi_bookstore:app",
                "fastapi",
                "FastAPI under granian",
                server="granian",
            ),
            "FastAPI under granian",
            scenarios=("plain", "list"),
        ),
    )
}


# ---------------------------------------------------------------- answers


def _canonical(value: Any) -> Any:
    """Decimal strings and timestamps in one spelling; tags in id order."""
    if isinstance(value, dict):
        out = {key: _canonical(item) for key, item in value.items()}
        if isinstance(out.get("tags"), list):
            out["tags"] = sorted(out["tags"], key=lambda tag: tag.get("id", 0))
        return out
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
        except ValueError:
            return value
    return value


def _price(book: dict[str, Any]) -> dict[str, Any]:
    try:
        return {**book, "price": str(Decimal(str(book["price"])).normalize())}
    except (KeyError, InvalidOperation):
        return book


def normalise(scenario: str, status: int, body: Any) -> Any:
    """What must be equal across implementations for ``scenario``.

    Legitimate differences that are normalised away (and said in the report):
    timestamps compared as instants (``Z`` vs ``+00:00``, trailing zeros of the
    fraction), prices as decimals (``"12.50"`` vs ``"12.5"``), tags in id order, the
    ``next`` cursor only as present/absent (each peer spells its own cursor, Stellate
    signs it) and ``previous`` not at all (only Stellate and DRF link back), the
    created author's id, the body of a validation error (each framework words it its
    own way; 400 or FastAPI's 422 both count) and the OpenAPI document (each peer
    describes its own API: only its version and non-empty ``paths`` are compared).
    """
    if scenario == "invalid":
        return {"error status": status in (400, 422)}
    if scenario == "openapi":
        version = str(body.get("openapi", "")) if isinstance(body, dict) else ""
        paths = body.get("paths") if isinstance(body, dict) else None
        return {"status": status, "openapi 3.x": version.startswith("3."), "has paths": bool(paths)}
    if scenario == "create" and isinstance(body, dict):
        return {"status": status, "id is int": isinstance(body.get("id"), int)} | {
            key: value for key, value in body.items() if key != "id"
        }
    if scenario == "list" and isinstance(body, dict):
        results = [_price(book) for book in body.get("results", [])]
        return {
            "status": status,
            "results": _canonical(results),
            "has next": bool(body.get("next")),
        }
    return {"status": status, "body": _canonical(body)}


def _request(
    port: int, method: str, path: str, body: dict[str, Any] | None
) -> tuple[int, str, Any]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        content_type = response.getheader("content-type", "")
    finally:
        connection.close()
    try:
        decoded = json.loads(raw)
    except ValueError:
        decoded = raw[:200].decode(errors="replace")
    return response.status, content_type, decoded


def _next_path(link: str) -> str:
    """The path of a page's ``next`` link: absolute (DRF) or ``?cursor=`` (the others)."""
    if link.startswith("?"):
        return "/api/books/" + link
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def answers_of(item: Implementation, port: int) -> dict[str, Any]:
    """Every scenario's normalised answer from a running server of ``item``, plus page 2."""
    found: dict[str, Any] = {}
    for scenario in SCENARIOS:
        if scenario.name not in item.scenarios:
            continue
        status, content_type, body = _request(
            port, scenario.method, item.path(scenario), scenario.body
        )
        answer = normalise(scenario.name, status, body)
        if status not in scenario.expect:
            answer = {"unexpected status": status, "body": body}
        elif "json" not in content_type.split(";")[0] and scenario.name != "invalid":
            answer = {"content-type": content_type}
        found[scenario.name] = answer
        if scenario.name == "list" and isinstance(body, dict) and body.get("next"):
            status, _, page = _request(port, "GET", _next_path(body["next"]), None)
            found["list, page 2"] = normalise("list", status, page)
    return found


def _difference(expected: Any, got: Any) -> str:
    text_expected = json.dumps(expected, sort_keys=True, default=str)
    text_got = json.dumps(got, sort_keys=True, default=str)
    for index, (left, right) in enumerate(zip(text_expected, text_got, strict=False)):
        if left != right:
            start = max(0, index - 60)
            end = index + 80
            return f"expected …{text_expected[start:end]}…\n      got …{text_got[start:end]}…"
    return f"expected {text_expected[:160]}\n      got {text_got[:160]}"


def check_implementations(
    items: Sequence[Implementation],
    *,
    loop: str,
    http: str,
    env: dict[str, str],
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Start each implementation once and compare its answers with the first one's.

    Raises:
        BenchError: a server failed, or an answer differs (the message shows where).
    """
    answers: dict[str, dict[str, Any]] = {}
    for item in items:
        with Server(item.framework, loop=loop, http=http, core=None, env=env) as server:
            server.start()
            answers[item.name] = answers_of(item, server.port)
    reference_name = items[0].name
    reference = answers[reference_name]
    problems = []
    for name, found in answers.items():
        for scenario, answer in found.items():
            if isinstance(answer, dict) and (
                "unexpected status" in answer or "content-type" in answer
            ):
                problems.append(f"`{name}` {scenario}: {json.dumps(answer, default=str)[:300]}")
            elif scenario in reference and answer != reference[scenario]:
                where = _difference(reference[scenario], answer)
                problems.append(
                    f"`{name}` {scenario} differs from `{reference_name}`:\n      {where}"
                )
    if problems:
        raise BenchError("The implementations do not answer alike:\n  " + "\n  ".join(problems))
    for name, found in answers.items():
        log(f"  {name:<20} same JSON as {reference_name} for: {', '.join(found)}")
    return answers


# ---------------------------------------------------------------- timing


def settle(pid: int, timeout: float = 20.0) -> None:
    """Wait until the server stops burning CPU: requests queued by the warm-up are done.

    A server slower than its queue (gunicorn's single sync worker) keeps answering the
    warm-up's last connections after wrk has gone; measuring then would count that
    work against the next window.
    """
    deadline = time.perf_counter() + timeout
    before = process_tree_cpu_seconds(pid)
    while time.perf_counter() < deadline:
        time.sleep(0.1)
        now = process_tree_cpu_seconds(pid)
        if now - before < 0.005:
            return
        before = now


def measure_server(
    item: Implementation,
    scenarios: Sequence[Scenario],
    *,
    loop: str,
    http: str,
    env: dict[str, str],
    server_core: int,
    wrk_core: int,
    seconds: float,
    warmup: float,
    connections: int,
    after_writes: Callable[[], None],
) -> dict[str, dict[str, float]]:
    """One fresh server of ``item``; each scenario warmed up, then measured with wrk.

    Returns:
        scenario name -> ``rps``, ``cpu_us_per_request`` (server process and its
        children, from /proc), ``p50_ms``, ``p99_ms``, ``others_core_share``; and
        ``"spawn"`` -> ``{"ms": spawn-to-first-response}``.
    """
    samples: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory() as scratch,
        Server(item.framework, loop=loop, http=http, core=server_core, env=env) as server,
    ):
        samples["spawn"] = {"ms": server.start() * 1000}
        for scenario in scenarios:
            url = f"http://127.0.0.1:{server.port}{item.path(scenario)}"
            script = scenario.wrk_script(Path(scratch))
            error_path = scenario.expect[0] >= 400
            if warmup > 0:
                try:
                    run_wrk(
                        url,
                        seconds=warmup,
                        connections=connections,
                        core=wrk_core,
                        script=script,
                        expect_non_2xx=error_path,
                    )
                except BenchError as exc:
                    # A slow server may finish nothing within a short warm-up: fine.
                    if "completed no request" not in str(exc):
                        raise
            window = seconds
            while True:
                settle(server.pid)
                cpu_before = process_tree_cpu_seconds(server.pid)
                busy_before = core_busy_seconds([server_core])[server_core]
                try:
                    result = run_wrk(
                        url,
                        seconds=window,
                        connections=connections,
                        core=wrk_core,
                        script=script,
                        expect_non_2xx=error_path,
                    )
                    break
                except BenchError as exc:
                    # A slow server under a busy machine can finish nothing in a short
                    # window (its queue is longer than the window): measure once more
                    # over twice the time before giving up.
                    if "completed no request" not in str(exc) or window > seconds:
                        raise
                    window = seconds * 2
            cpu = process_tree_cpu_seconds(server.pid) - cpu_before
            busy = core_busy_seconds([server_core])[server_core] - busy_before
            samples[scenario.name] = {
                "rps": result.requests_per_second,
                "cpu_us_per_request": cpu / result.requests * 1e6,
                "p50_ms": result.latency_p50_ms or 0.0,
                "p99_ms": result.latency_p99_ms or 0.0,
                "others_core_share": max(0.0, busy - cpu) / result.seconds,
            }
            if scenario.writes:
                after_writes()
    return samples
