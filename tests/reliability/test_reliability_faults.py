"""Faults: PostgreSQL and Redis going away under load, pool exhaustion, SIGTERM, two migrates.

Everything runs against private servers started for this module (``PrivatePostgres``:
the installed PostgreSQL binaries in a temporary folder; ``PrivateRedis``: a
``redis-server`` on a free port): the machine's services are never stopped. The
bookstore is served by uvicorn as in production (migrated, seeded) with a pool of 4
connections, a 1 s acquire timeout and a 1 s connect timeout.

The task worker's SIGTERM (the running job finishes) and SIGKILL (the job runs again
on another worker) are proven by ``tests/tasks/test_tasks_processes.py``; the
``reliability`` nox session runs it with these.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from _reliability_serving import REPO, STELLATE, Server, Services, uvicorn_server


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[Server]:
    with uvicorn_server("examples.bookstore.app:app", services.env, folder=services.folder) as s:
        yield s


@dataclass
class Outcome:
    at: float
    status: int
    seconds: float
    json: bool


async def hammer(
    url: str, *, clients: int, seconds: float, path: str = "/api/books/?page_size=5"
) -> list[Outcome]:
    """``clients`` loops of GET ``path`` for ``seconds``; every answer with its timing."""
    outcomes: list[Outcome] = []
    start = time.monotonic()

    async def one(http: httpx.AsyncClient) -> None:
        while time.monotonic() - start < seconds:
            sent = time.monotonic()
            try:
                response = await http.get(path)
            except httpx.TransportError:
                outcomes.append(Outcome(sent - start, 0, time.monotonic() - sent, False))
                await asyncio.sleep(0.05)
                continue
            kind = response.headers.get("content-type", "")
            outcomes.append(
                Outcome(sent - start, response.status_code, time.monotonic() - sent, "json" in kind)
            )
            if response.status_code != 200:
                await asyncio.sleep(0.02)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(one(http) for _ in range(clients)))
    return outcomes


async def test_postgres_restarted_under_load_gives_fast_503s_then_recovers(
    services: Services, server: Server
) -> None:
    pid = server.process.pid
    load = asyncio.create_task(hammer(server.url, clients=16, seconds=9))
    started = time.monotonic()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(services.postgres.stop, "immediate")
    # Routes that need no database keep serving during the outage.
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/openapi.json")).status_code == 200
        health = await http.get("/health")
        assert health.status_code == 503
        assert health.json()["checks"]["tasks"] == "ok"
        assert health.json()["checks"]["database"].startswith("error: ")
        # The public answer leaks no connection details (they are in the server's log).
        assert str(services.postgres.port) not in health.text
        assert "127.0.0.1" not in health.text
    await asyncio.sleep(1.5)
    await asyncio.to_thread(services.postgres.start)
    back_at = time.monotonic() - started
    outcomes = await load
    assert server.process.poll() is None
    assert server.process.pid == pid

    statuses = {o.status for o in outcomes}
    assert statuses <= {200, 503}, sorted(statuses)
    failures = [o for o in outcomes if o.status == 503]
    assert failures, "no request met the outage"
    assert all(o.json for o in failures)
    # Fast: bounded by the 1 s connect timeout, never near the 30 s client timeout (the
    # margin is for a shared, loaded machine).
    assert max(o.seconds for o in failures) < 5, max(o.seconds for o in failures)
    # Recovered by itself soon after PostgreSQL is back, and stays recovered.
    last_failure = max(o.at + o.seconds for o in failures)
    assert last_failure < back_at + 4, (last_failure, back_at)
    after = [o for o in outcomes if o.at > last_failure]
    assert len(after) > 20
    assert all(o.status == 200 for o in after)
    assert "Internal Server Error" not in server.output()


async def test_pool_exhaustion_is_a_503_after_the_acquire_timeout(
    services: Services, server: Server
) -> None:
    blocker = await asyncpg.connect(services.postgres.url)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE bookstore_books IN ACCESS EXCLUSIVE MODE")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            # Four requests wait on the lock, holding the pool's four connections.
            stuck = [asyncio.create_task(http.get("/api/books/?page_size=1")) for _ in range(4)]
            await asyncio.sleep(0.5)
            started = time.monotonic()
            response = await http.get("/api/books/?page_size=2")
            waited = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "2"
            assert "busy" in response.json()["detail"]
            assert 0.9 <= waited < 2.5, waited
            await transaction.rollback()
            answers = await asyncio.gather(*stuck)
            assert [a.status_code for a in answers] == [200] * 4
            assert (await http.get("/api/books/?page_size=2")).status_code == 200
    finally:
        await blocker.close()


async def _editor(http: httpx.AsyncClient) -> dict[str, str]:
    login = await http.post(
        "/auth/login", json={"username": "editor", "password": "paper-lantern-harbour"}
    )
    assert login.status_code == 200, login.text
    # Production cookies are `Secure`: httpx keeps them off plain http, so send them.
    cookies = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
    http.cookies.clear()
    return {"X-CSRF-Token": login.json()["csrf_token"], "Cookie": cookies}


async def _wait_healthy(http: httpx.AsyncClient, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while (await http.get("/health")).status_code != 200:
        assert time.monotonic() < deadline, (await http.get("/health")).text
        await asyncio.sleep(0.2)


async def test_redis_down_degrades_tasks_while_reads_and_writes_serve(
    services: Services, server: Server
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        await _wait_healthy(http)
        session = await _editor(http)
        key = await http.post("/auth/api-keys", json={"name": "faults"}, headers=session)
        assert key.status_code == 201, key.text
        api_key = {"X-API-Key": key.json()["raw_key"]}
        book = (await http.get("/api/books/?page_size=1")).json()["results"][0]["id"]
        services.redis.stop()
        try:
            health = await http.get("/health")
            assert health.status_code == 503
            assert health.json()["checks"]["database"] == "ok"
            assert health.json()["checks"]["tasks"].startswith("error")
            started = time.monotonic()
            assert (await http.get("/api/books/?page_size=3")).status_code == 200
            # The review commits with its task in the outbox (PostgreSQL): the task is
            # sent once Redis is back, and the write does not wait for Redis.
            review = await http.post(
                "/api/reviews/", json={"book_id": book, "rating": 5}, headers=api_key
            )
            assert review.status_code == 201, review.text
            # A logged-in session keeps working too.
            me = await http.get("/auth/me", headers=session)
            assert me.status_code == 200, me.text
            assert time.monotonic() - started < 3
        finally:
            services.redis.start()
        await _wait_healthy(http)
        assert (await http.get("/api/books/?page_size=1")).status_code == 200


async def test_sigterm_drains_requests_in_flight(services: Services) -> None:
    with uvicorn_server("examples.bookstore.app:app", services.env, folder=services.folder) as s:
        blocker = await asyncpg.connect(services.postgres.url)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE bookstore_books IN ACCESS EXCLUSIVE MODE")
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as http:
                in_flight = [
                    asyncio.create_task(http.get("/api/books/?page_size=1")) for _ in range(3)
                ]
                await asyncio.sleep(0.5)
                s.signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                # Still draining: no new connections, the old requests still wait.
                assert s.process.poll() is None
                async with httpx.AsyncClient(base_url=s.url) as fresh:
                    with pytest.raises(httpx.TransportError):
                        await fresh.get("/health")
                await transaction.rollback()
                answers = await asyncio.gather(*in_flight)
            assert [a.status_code for a in answers] == [200] * 3
            # uvicorn re-raises the signal once drained: exit status -SIGTERM (or 0).
            assert await asyncio.to_thread(s.process.wait, 20) in (0, -signal.SIGTERM)
        finally:
            await blocker.close()


MIGRATE_COMMANDS = {
    "orm": [sys.executable, "-m", "stellate.orm.migrations", "migrate"],
    "app": [STELLATE, "--app", "examples.bookstore.app:app", "migrate"],
}


# "app" runs the plugins' post_migrate hooks too (the auth tables and permission rows),
# under the migration lock like the migrations themselves.
@pytest.mark.parametrize("runner", ["orm", "app"])
def test_two_migrate_processes_at_once_leave_one_correct_schema(
    services: Services, runner: str
) -> None:
    url = services.postgres.create_database(f"two_migrates_{runner}")
    env = {**services.env, "STELLATE_DATABASE_URL": url}
    command = MIGRATE_COMMANDS[runner]
    runs = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum("Applying 0001_initial" in output for output in outputs) == 1, outputs

    async def schema() -> tuple[list[str], list[str]]:
        connection = await asyncpg.connect(url)
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'bookstore_%' ORDER BY 1"
            )
            applied = await connection.fetch("SELECT name FROM stellate_migrations ORDER BY name")
        finally:
            await connection.close()
        return [r[0] for r in tables], [r[0] for r in applied]

    tables, applied = asyncio.run(schema())
    assert "bookstore_books" in tables
    assert "bookstore_categories" in tables
    assert len(applied) == len(set(applied)) >= 2, applied
