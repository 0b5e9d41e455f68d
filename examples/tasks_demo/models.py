"""The demo's one table: orders, each followed by a confirm job and a shipping job.

The table name carries a ``tasks_demo_`` prefix so the example can share a database
(the test database, say) with other apps' tables.
"""

from __future__ import annotations

from stellate.orm import Field, Model


class Order(Model):
    """A user's order; background jobs confirm it and notify the carrier."""

    class Meta:
        table = "tasks_demo_orders"

    id: int = Field(primary_key=True, auto=True)
    user_id: int = Field(index=True)
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=100)
    confirmed: bool = Field(default=False)
    confirm_job: str = Field(default="", max_length=64)
    ship_job: str = Field(default="", max_length=64)
    carrier_calls: int = Field(default=0, ge=0)
