"""The tasks demo over real HTTP, with a real in-process worker on real Redis and PostgreSQL.

Most tests use the ORM ``db`` fixture: the test runs inside a transaction that is
rolled back, so nothing it writes ever commits and jobs queued with
``enqueue_on_commit`` stay in the outbox. The commit test runs on a throwaway database
of its own (``temporary_database``), where requests really commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from examples.tasks_demo.app import MAX_OPEN_ORDERS, MIGRATIONS_DIR, create_app
from examples.tasks_demo.models import Order
from examples.tasks_demo.tasks import CARRIER_RETRIES, SWEEP_UNCONFIRMED
from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Database
from stellate.orm.plugin import apply_migrations
from stellate.orm.testing import create_tables, temporary_database
from stellate.tasks import TaskStatus
from stellate.tasks.outbox import OUTBOX_TABLE

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "amber kettle over the dunes"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """STELLATE_TEST_REDIS_URL, or an embedded Redis when it is unset."""
    url = os.environ.get("STELLATE_TEST_REDIS_URL")
    if url:
        yield url
        return
    from stellate.tasks.embedded import start_embedded_redis, stop_embedded_redis

    server, embedded_url = start_embedded_redis(str(tmp_path_factory.mktemp("redis")))
    yield embedded_url
    stop_embedded_redis(server)


def build_app(redis_url: str) -> App:
    """The demo in the test environment, on a key prefix of its own."""
    return create_app(
        {
            "env": "test",
            "secret_key": "tasks-demo-tests-" + "s" * 40,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {
                "redis_url": redis_url,
                "tasks_prefix": f"tasks-demo-test-{uuid.uuid4().hex}:",
                "tasks_poll_delay": 0.01,
                "tasks_keep_result": 60.0,
                "tasks_shutdown_grace": 1.0,
            },
        }
    )


@contextlib.asynccontextmanager
async def serve(redis_url: str) -> AsyncIterator[AppClient]:
    """An AppClient on a fresh demo app; at the end, this app's Redis keys are deleted."""
    app = build_app(redis_url)
    try:
        async with AppClient(app) as http:
            await http.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
            yield http
    finally:
        redis = aioredis.Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(match=f"*{app.tasks.prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def client(db: Database, redis_url: str) -> AsyncIterator[AppClient]:
    await create_tables(Order)
    async with serve(redis_url) as http:
        yield http


async def login(client: AppClient) -> dict[str, str]:
    """Log a new user in; returns the headers of a CSRF-protected write."""
    username = f"buyer-{uuid.uuid4().hex[:8]}"
    await client.app.auth.users.create_user(username, PASSWORD)  # type: ignore[attr-defined]
    client.cookies.clear()
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def place(client: AppClient, headers: dict[str, str], item: str = "kettle") -> Any:
    response = await client.post("/orders", json={"item": item, "quantity": 2}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def wait_for(
    client: AppClient, order_id: int, job: str, status: str, within: float = 10.0
) -> dict[str, Any]:
    """Poll ``GET /orders/{id}`` until job ``job`` reports ``status``; returns the order."""
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = (await client.get(f"/orders/{order_id}")).json()
        if body["jobs"][job] is not None and body["jobs"][job]["status"] == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job `{job}` never reached `{status}`: {body}")
        await asyncio.sleep(0.05)


async def outbox_job_ids(db: Database, app: Any) -> list[str]:
    rows = await db.fetch(
        f"SELECT job_id FROM {OUTBOX_TABLE} WHERE prefix = $1 ORDER BY id", app.tasks.prefix
    )
    return [row["job_id"] for row in rows]


# -- auth and bad input -----------------------------------------------------------------


async def test_every_route_needs_a_login_and_writes_a_csrf_token(client: AppClient) -> None:
    anonymous = await client.post("/orders", json={"item": "kettle"})
    assert anonymous.status_code == 401
    assert (await client.get("/orders/1")).status_code == 401
    assert (await client.post("/orders/1/ship")).status_code == 401
    await login(client)
    no_token = await client.post("/orders", json={"item": "kettle"})
    assert no_token.status_code == 403
    assert "X-CSRF-Token" in no_token.text
    assert await Order.objects.count() == 0


async def test_bad_input_is_refused_naming_the_field(client: AppClient) -> None:
    headers = await login(client)
    quantity = await client.post("/orders", json={"item": "kettle", "quantity": 0}, headers=headers)
    assert quantity.status_code == 422
    assert "quantity" in quantity.text
    unknown = await client.post("/orders", json={"item": "kettle", "price": 3}, headers=headers)
    assert unknown.status_code == 422
    assert "price" in unknown.text
    order = await place(client, headers)
    for bad in ("lots", "-1", "11"):
        response = await client.post(
            f"/orders/{order['id']}/ship?carrier_failures={bad}", headers=headers
        )
        assert response.status_code == 400
        assert "carrier_failures" in response.text
        assert f"`{bad}`" in response.text
    # Someone else's order does not exist for this user.
    other = await login(client)
    assert (await client.get(f"/orders/{order['id']}")).status_code == 404
    ship = await client.post(f"/orders/{order['id']}/ship", headers=other)
    assert ship.status_code == 404
    assert f"`{order['id']}`" in ship.text


# -- enqueue_on_commit ------------------------------------------------------------------


async def test_confirm_job_waits_for_the_commit_and_a_refused_order_drops_its_job(
    client: AppClient, db: Database
) -> None:
    app: Any = client.app
    headers = await login(client)
    orders = [await place(client, headers, f"item-{n}") for n in range(MAX_OPEN_ORDERS)]
    job_ids = [order["jobs"]["confirm"]["id"] for order in orders]
    # The test's transaction never commits: each job sits in the outbox, not in Redis.
    assert [order["jobs"]["confirm"]["status"] for order in orders] == ["not_found"] * 3
    assert await outbox_job_ids(db, app) == job_ids

    refused = await client.post("/orders", json={"item": "one too many"}, headers=headers)
    assert refused.status_code == 409
    assert f"`{MAX_OPEN_ORDERS}`" in refused.json()["detail"]
    # The refused order's row and its outbox row rolled back together.
    assert await Order.objects.count() == MAX_OPEN_ORDERS
    assert await outbox_job_ids(db, app) == job_ids
    assert not await Order.objects.filter(item="one too many").exists()


async def test_committed_orders_are_confirmed_by_the_worker_and_rolled_back_ones_never(
    redis_url: str,
) -> None:
    # A throwaway database where requests really commit (the `db` fixture never does).
    async with temporary_database() as database:
        assert database.url is not None
        await apply_migrations(database.url, MIGRATIONS_DIR)
        async with serve(redis_url) as client:
            app: Any = client.app
            headers = await login(client)
            orders = [await place(client, headers, f"item-{n}") for n in range(MAX_OPEN_ORDERS)]
            refused = await client.post("/orders", json={"item": "too many"}, headers=headers)
            assert refused.status_code == 409
            # Relayed after each commit: queued in Redis, nothing left in the outbox.
            for order in orders:
                body = (await client.get(f"/orders/{order['id']}")).json()
                assert body["jobs"]["confirm"]["status"] == "queued"
                assert body["confirmed"] is False
            assert await outbox_job_ids(database, app) == []
            stats = await app.tasks.stats()
            assert stats.queues["default"].queued == MAX_OPEN_ORDERS

            async with app.tasks.worker():
                for order in orders:
                    body = await wait_for(client, order["id"], "confirm", "complete")
                    assert body["jobs"]["confirm"]["result"] == 1
                    assert body["confirmed"] is True
            # The refused order's job never reached Redis, so nothing else ran or waits.
            stats = await app.tasks.stats()
            assert stats.queues["default"].queued == 0
            assert stats.failed == 0
            assert await Order.objects.count() == MAX_OPEN_ORDERS
            assert await Order.objects.filter(confirmed=True).count() == MAX_OPEN_ORDERS


async def test_the_readme_worker_command_runs_committed_jobs(redis_url: str) -> None:
    async with temporary_database() as database:
        assert database.url is not None
        await apply_migrations(database.url, MIGRATIONS_DIR)
        async with serve(redis_url) as client:
            app: Any = client.app
            headers = await login(client)
            orders = [await place(client, headers, item) for item in ("kettle", "teapot")]
            # `stellate --app examples.tasks_demo.app:app worker`, as the README runs it,
            # on this test's database, Redis and key prefix; --burst stops it once idle.
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith("STELLATE_") and key not in ("DATABASE_URL", "REDIS_URL")
            }
            env.update(
                PYTHONPATH=str(REPO),
                STELLATE_ENV="test",
                STELLATE_SECRET_KEY="tasks-demo-worker-" + "w" * 40,
                STELLATE_DATABASE_URL=database.url,
                STELLATE_REDIS_URL=redis_url,
                STELLATE_TASKS_PREFIX=app.tasks.prefix,
            )
            worker = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "stellate"),
                *("--app", "examples.tasks_demo.app:app", "worker", "--burst"),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
            assert worker.returncode == 0, output.decode()
            assert "tasks_demo.confirm_order" in output.decode()
            for order in orders:
                body = (await client.get(f"/orders/{order['id']}")).json()
                assert body["confirmed"] is True
                assert body["jobs"]["confirm"] == {
                    "id": order["jobs"]["confirm"]["id"],
                    "status": "complete",
                    "result": 1,
                }


# -- retries ----------------------------------------------------------------------------


async def test_flaky_carrier_is_retried_until_it_answers(client: AppClient) -> None:
    headers = await login(client)
    order = await place(client, headers)
    app: Any = client.app
    async with app.tasks.worker():
        response = await client.post(
            f"/orders/{order['id']}/ship?carrier_failures=2", headers=headers
        )
        assert response.status_code == 202
        assert response.json()["jobs"]["ship"]["status"] in {"queued", "in_progress", "deferred"}
        body = await wait_for(client, order["id"], "ship", "complete")
    assert body["jobs"]["ship"]["result"] == f"TRACK-{order['id']:06d}"
    assert body["carrier_calls"] == 3  # two failures, then the answer
    assert (await app.tasks.stats()).failed == 0


async def test_carrier_failing_beyond_the_retries_fails_the_job(client: AppClient) -> None:
    headers = await login(client)
    order = await place(client, headers)
    app: Any = client.app
    async with app.tasks.worker():
        response = await client.post(
            f"/orders/{order['id']}/ship?carrier_failures=10", headers=headers
        )
        assert response.status_code == 202
        body = await wait_for(client, order["id"], "ship", "failed")
    assert "CarrierUnavailable" in body["jobs"]["ship"]["error"]
    assert f"order {order['id']}" in body["jobs"]["ship"]["error"]
    assert body["carrier_calls"] == 1 + CARRIER_RETRIES
    [failed] = await app.tasks.failed.list()
    assert failed.id == body["jobs"]["ship"]["id"]
    assert failed.attempts == 1 + CARRIER_RETRIES


# -- cron -------------------------------------------------------------------------------


async def test_sweep_is_a_registered_cron_job_that_confirms_leftovers(client: AppClient) -> None:
    app: Any = client.app
    [(task, schedule)] = app.tasks.crons
    assert task.name == SWEEP_UNCONFIRMED
    assert schedule.minute == frozenset(range(0, 60, 5))
    assert schedule.second == frozenset({0})
    assert (schedule.hour, schedule.day, schedule.month, schedule.weekday) == (None,) * 4

    headers = await login(client)
    for item in ("kettle", "teapot"):
        await place(client, headers, item)
    # Their confirm jobs wait for a commit that never comes: the sweep confirms them.
    async with app.tasks.worker():
        handle = await task.enqueue()
        assert await handle.result(timeout=10) == 2
        assert await handle.status() is TaskStatus.COMPLETE
    assert await Order.objects.filter(confirmed=False).count() == 0


# -- Redis outage -----------------------------------------------------------------------


async def test_without_redis_queueing_routes_answer_503_and_orders_still_commit_to_outbox(
    db: Database,
) -> None:
    await create_tables(Order)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens here once it is closed
    app = create_app(
        {
            "env": "test",
            "secret_key": "tasks-demo-tests-" + "s" * 40,
            "auth": {"password_profile": "owasp-minimum"},
            "tasks": {
                "redis_url": f"redis://127.0.0.1:{closed_port}",
                "tasks_prefix": f"tasks-demo-test-{uuid.uuid4().hex}:",
                "tasks_enqueue_timeout": 0.5,
            },
        }
    )
    async with AppClient(app) as client:
        await client.app.auth.throttle.reset(ip="127.0.0.1")  # type: ignore[attr-defined]
        headers = await login(client)
        # Inside the transaction the confirm job only needs the database (the outbox).
        created = await client.post("/orders", json={"item": "kettle"}, headers=headers)
        assert created.status_code == 201, created.text
        confirm = created.json()["jobs"]["confirm"]
        assert confirm["status"] == "unavailable"
        assert await outbox_job_ids(db, app) == [confirm["id"]]
        # Queueing now needs Redis: a 503 that says so, and the order is unchanged.
        order_id = created.json()["id"]
        ship = await client.post(f"/orders/{order_id}/ship", headers=headers)
        assert ship.status_code == 503, ship.text
        assert "tasks_demo.notify_carrier" in ship.json()["detail"]
        assert (await Order.objects.get(id=order_id)).ship_job == ""
        shown = await client.get(f"/orders/{order_id}")
        assert shown.status_code == 200
        assert shown.json()["jobs"]["confirm"]["status"] == "unavailable"
        reason = shown.json()["jobs"]["confirm"]["error"]
        assert f"127.0.0.1:{closed_port}` is unavailable" in reason
    await app.tasks.close()
