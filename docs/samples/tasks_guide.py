"""Tasks guide: @app.task with retries, a worker, TaskGroup, failures, enqueue_on_commit."""

from __future__ import annotations

from stellate.core import App
from stellate.core.testing import AppClient
from stellate.orm import Field, Model, transaction
from stellate.tasks import TaskFailed, TaskGroup, enqueue_on_commit

# --8<-- [start:app]
app = App(plugins=["orm", "tasks"])  # STELLATE_REDIS_URL, or an embedded Redis in development
attempts: list[int] = []


class Order(Model):
    class Meta:
        table = "tasks_orders"

    id: int = Field(primary_key=True, auto=True)
    confirmed: bool = Field(default=False)


@app.task(max_retries=3, retry_delay=0.01, backoff="exponential", retry_on=(ConnectionError,))
async def notify_carrier(order_id: int) -> str:
    attempts.append(order_id)
    if len(attempts) < 2:
        raise ConnectionError("carrier API timed out")  # retried
    return f"booked #{order_id}"


@app.task(timeout=10)
async def word_count(text: str) -> int:
    return len(text.split())


@app.task
async def confirm(order_id: int) -> None:
    await Order.objects.filter(id=order_id).update(confirmed=True)


@app.task
async def explode() -> None:
    raise ValueError("not retryable")


# --8<-- [end:app]


async def main() -> None:
    async with AppClient(app), app.tasks.worker():  # app started, worker in-process
        # --8<-- [start:use]
        handle = await notify_carrier.enqueue(42)
        assert await handle.result(timeout=10) == "booked #42"  # after one retry
        assert attempts == [42, 42]

        group = TaskGroup()
        for text in ["a", "b c", "d e f"]:
            group.add(word_count, text)
        assert await group.run(timeout=10) == [1, 2, 3]  # in the order added

        failing = await explode.enqueue()
        try:
            await failing.result(timeout=10)
        except TaskFailed as exc:
            assert "not retryable" in str(exc)

        # Queued only if the transaction commits (a rollback drops the job).
        order = await Order.objects.create()
        async with transaction():
            await enqueue_on_commit(confirm, order.id)
        # --8<-- [end:use]
