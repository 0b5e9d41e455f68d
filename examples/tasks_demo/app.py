"""The tasks demo: an order queues its confirmation on commit, shipping retries a flaky API.

Serve it and run a worker from the repository root, with nothing configured::

    uv run uvicorn examples.tasks_demo.app:app
    uv run stellate --app examples.tasks_demo.app:app worker

In development (the default ``STELLATE_ENV``) with no ``STELLATE_DATABASE_URL`` the orm
plugin starts an embedded PostgreSQL under ``.stellate/`` and this app applies its
migrations to it; with no ``STELLATE_REDIS_URL`` the tasks plugin starts an embedded
Redis there, which the worker started from the same directory attaches to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from examples.tasks_demo.models import Order
from examples.tasks_demo.tasks import (
    CARRIER_RETRIES,
    CONFIRM_ORDER,
    NOTIFY_CARRIER,
    SWEEP_UNCONFIRMED,
    CarrierUnavailable,
    confirm_order,
    notify_carrier,
    sweep_unconfirmed,
)
from stellate.auth import login_required, require_auth
from stellate.core import App, HTTPException, JSONResponse, Request
from stellate.orm import OrmSettings, get_db
from stellate.orm.database import testing_databases
from stellate.orm.plugin import apply_migrations
from stellate.tasks import (
    TaskFailed,
    TaskHandle,
    TaskQueueUnavailable,
    TaskStatus,
    enqueue_on_commit,
)

#: The example's migrations, generated with ``makemigrations`` (see the README).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Unconfirmed orders a user may have at once; the next one is refused (409).
MAX_OPEN_ORDERS = 3

#: The highest ``carrier_failures`` a client may ask the pretend carrier for.
MAX_CARRIER_FAILURES = 10

#: The development account the app creates and prints at startup.
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "quiet-orange-lighthouse"  # noqa: S105 (a printed development login)

logger = logging.getLogger("stellate.tasks_demo")


class NewOrder(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /orders``."""

    # No NUL: PostgreSQL text cannot hold it (a 422 naming `item`, not a database error).
    item: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern="^[^\x00]*$")]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


def create_app(settings: Mapping[str, Any] | None = None) -> App:
    """Build the tasks demo.

    Args:
        settings: values that win over the environment, as for ``App(settings=...)``
            (tests pass ``{"env": "test", "tasks": {...}}``).

    Returns:
        The app: login under ``/auth``, orders under ``/orders``, ``/health``.
    """
    app = App(plugins=["orm", "auth", "tasks"], settings=dict(settings or {}))
    confirm = app.task(name=CONFIRM_ORDER)(confirm_order)
    notify = app.task(
        name=NOTIFY_CARRIER,
        max_retries=CARRIER_RETRIES,
        retry_on=(CarrierUnavailable,),
        retry_delay=0.1,
        backoff="exponential",
        jitter=True,
        max_delay=5.0,
        timeout=30,
    )(notify_carrier)
    # Every five minutes, once across all workers: a safety net for lost confirm jobs.
    app.cron("*/5 * * * *", name=SWEEP_UNCONFIRMED)(sweep_unconfirmed)

    @app.post("/orders")
    @login_required
    async def create_order(request: Request) -> Any:
        user = require_auth(request)
        body = await request.json(NewOrder)
        async with get_db().transaction():
            order = await Order.objects.create(
                user_id=user["id"], item=body.item, quantity=body.quantity
            )
            # Written to the outbox in this transaction: queued only once it commits.
            order.confirm_job = await enqueue_on_commit(confirm, order.id)
            await order.save(update_fields=["confirm_job"])
            # Checked after the insert, in the same transaction: a refused order rolls
            # back, and its confirm job with it.
            open_orders = await Order.objects.filter(user_id=user["id"], confirmed=False).count()
            if open_orders > MAX_OPEN_ORDERS:
                raise HTTPException(
                    409,
                    f"You have {open_orders - 1} unconfirmed orders, the most allowed is "
                    f"`{MAX_OPEN_ORDERS}`: wait for them to be confirmed, then order again",
                )
        return JSONResponse(await describe(order), status_code=201)

    @app.post("/orders/{order_id:int}/ship")
    @login_required
    async def ship_order(request: Request, order_id: int) -> Any:
        order = await own_order(request, order_id)
        raw = request.query("carrier_failures", "0") or "0"
        try:
            failures = int(raw)
        except ValueError:
            failures = -1
        if not 0 <= failures <= MAX_CARRIER_FAILURES:
            raise HTTPException(
                400,
                f"Query parameter `carrier_failures` must be a whole number from 0 to "
                f"{MAX_CARRIER_FAILURES}, got `{raw}`",
            )
        handle = await notify.enqueue(order.id, failures)
        order.ship_job = handle.id
        await order.save(update_fields=["ship_job"])
        return JSONResponse(await describe(order), status_code=202)

    @app.get("/orders/{order_id:int}")
    @login_required
    async def show_order(request: Request, order_id: int) -> Any:
        return await describe(await own_order(request, order_id))

    async def describe(order: Order) -> dict[str, Any]:
        jobs: dict[str, Any] = {}
        for kind, task, job_id in (
            ("confirm", confirm, order.confirm_job),
            ("ship", notify, order.ship_job),
        ):
            jobs[kind] = await job_status(app.tasks.handle(job_id, task)) if job_id else None
        return {
            "id": order.id,
            "item": order.item,
            "quantity": order.quantity,
            "confirmed": order.confirmed,
            "carrier_calls": order.carrier_calls,
            "jobs": jobs,
        }

    app.mount_health()
    if app.settings.env == "development":
        app.add_lifespan(_development)
    return app


async def own_order(request: Request, order_id: int) -> Order:
    """Order ``order_id`` of the logged-in user, or a 404 (other users' orders too)."""
    user = require_auth(request)
    # An id the column cannot hold names no order: a 404 like any other unknown id.
    in_range = 0 < order_id < 2**31
    order = (
        await Order.objects.filter(id=order_id, user_id=user["id"]).first() if in_range else None
    )
    if order is None:
        raise HTTPException(404, f"You have no order `{order_id}`")
    return order


async def job_status(handle: TaskHandle[Any]) -> dict[str, Any]:
    """What ``GET /orders/{id}`` shows of one job: id, status, and result or error.

    With Redis unreachable the status is ``unavailable`` (and ``error`` says why), so
    an order that committed still answers: its job is safe in the outbox or in Redis.
    """
    try:
        status = await handle.status()
    except TaskQueueUnavailable as exc:
        return {"id": handle.id, "status": "unavailable", "error": str(exc)}
    shown: dict[str, Any] = {"id": handle.id, "status": status.value}
    if status is TaskStatus.COMPLETE:
        shown["result"] = await handle.result(timeout=1)
    elif status is TaskStatus.FAILED:
        try:
            await handle.result(timeout=1)
        except TaskFailed as exc:
            shown["error"] = f"{exc.error_type}: {exc.error}"
    return shown


def _uses_embedded_database(app: App) -> bool:
    if testing_databases() is not None:
        # Under the pytest fixtures every alias shares the test database.
        return False
    for plugin in app.plugins:
        if isinstance(plugin.config, OrmSettings):
            return plugin.config.database_url is None and "default" not in plugin.config.databases
    return False


@contextlib.asynccontextmanager
async def _development(app: App) -> AsyncIterator[None]:
    # The orm plugin migrates the embedded database with `STELLATE_MIGRATIONS_DIR`
    # (default: `migrations` in the working directory); this app's migrations live
    # next to it, so it applies them itself.
    if _uses_embedded_database(app) and app.db.url is not None:
        applied = await apply_migrations(app.db.url, MIGRATIONS_DIR)
        if applied:
            logger.warning("Applied %d tasks demo migration(s)", applied)
    if await app.auth.users.get_by_username(DEMO_USERNAME) is None:
        await app.auth.users.create_user(DEMO_USERNAME, DEMO_PASSWORD)
    logger.warning(
        "Tasks demo login (development only): username `%s`, password `%s`",
        DEMO_USERNAME,
        DEMO_PASSWORD,
    )
    yield


app = create_app()
