"""The demo's background work: confirm an order, notify a flaky carrier, sweep leftovers.

The functions are plain coroutines; ``app.py`` registers them on the app with their
retry and cron options, so importing this module does no work and needs no app.
"""

from __future__ import annotations

from examples.tasks_demo.models import Order
from stellate.orm import F

#: Names the app registers the tasks under (``app.tasks.tasks[...]``).
CONFIRM_ORDER = "tasks_demo.confirm_order"
NOTIFY_CARRIER = "tasks_demo.notify_carrier"
SWEEP_UNCONFIRMED = "tasks_demo.sweep_unconfirmed"

#: How often :func:`notify_carrier` retries a ``ConnectionError`` before failing.
CARRIER_RETRIES = 3


class CarrierUnavailable(ConnectionError):
    """The (pretend) carrier API did not answer; worth another try."""


async def confirm_order(order_id: int) -> int:
    """Mark order ``order_id`` confirmed; queued when the order's transaction commits.

    Setting a flag (rather than toggling it) makes a re-run harmless: tasks run at
    least once.

    Returns:
        The number of orders confirmed (0 when the order is gone or already confirmed).
    """
    return int(await Order.objects.filter(id=order_id, confirmed=False).update(confirmed=True))


async def call_carrier(order_id: int, fail_times: int) -> str:
    """Stand-in for an unreliable remote API: its first ``fail_times`` calls for an order fail.

    Each call is counted on the order (``carrier_calls``), so the retries are visible
    in the database and survive the worker process.

    Raises:
        CarrierUnavailable: on the first ``fail_times`` calls.
    """
    await Order.objects.filter(id=order_id).update(carrier_calls=F("carrier_calls") + 1)
    order = await Order.objects.get(id=order_id)
    if order.carrier_calls <= fail_times:
        raise CarrierUnavailable(
            f"carrier did not answer for order {order_id} (call {order.carrier_calls})"
        )
    return f"TRACK-{order_id:06d}"


async def notify_carrier(order_id: int, fail_times: int = 0) -> str:
    """Book a shipment for order ``order_id``; retried on ``CarrierUnavailable``.

    Args:
        order_id: the order to ship.
        fail_times: how many calls the pretend carrier fails first (a demo knob).

    Returns:
        The carrier's tracking number.
    """
    return await call_carrier(order_id, fail_times)


async def sweep_unconfirmed() -> int:
    """Cron job: confirm orders whose confirm job never ran (e.g. lost with a Redis reset).

    Returns:
        How many orders it confirmed.
    """
    return int(await Order.objects.filter(confirmed=False).update(confirmed=True))
