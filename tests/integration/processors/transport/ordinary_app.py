"""An app written in the ordinary Faust style, run unchanged on ``redis://``.

Agents, a Table, a windowed (tumbling) table, ``stream.take`` and ``group_by``
repartitioning; the tests compare its tables after a real worker run with the
same app's ``agent.test_context()`` run.
"""

from __future__ import annotations

import os
from datetime import timedelta

import faust

app = faust.App(
    os.environ.get("T_APP_ID", "ordinary"),
    broker=os.environ.get("T_BROKER", "redis://127.0.0.1:6379/0?prefix=ordinary-unit"),
    topic_partitions=4,
    store="memory://",
    broker_commit_interval=0.5,
    web_enabled=False,
    autodiscover=False,
)


class Order(faust.Record, serializer="json"):
    """One purchase."""

    user: str
    item: str
    amount: int
    ts: float


orders = app.topic("orders", key_type=str, value_type=Order, partitions=4)
item_totals = app.Table("item_totals", default=int, partitions=4)
# Updated outside per-event iteration (after take), so the producer picks the partition.
user_orders = app.Table("user_orders", default=int, partitions=4, use_partitioner=True)
user_hourly = (
    app.Table("user_hourly", default=int, partitions=4)
    .tumbling(3600, expires=timedelta(days=3650))
    .relative_to_field(Order.ts)
)


@app.agent(orders)
async def totals_by_item(stream: faust.StreamT[Order]) -> None:
    """Repartition by item, then sum amounts per item."""
    async for order in stream.group_by(Order.item):
        item_totals[order.item] += order.amount


@app.agent(orders)
async def hourly_by_user(stream: faust.StreamT[Order]) -> None:
    """Sum amounts per user per hour of the order's own timestamp."""
    async for order in stream:
        user_hourly[order.user] += order.amount


@app.agent(orders)
async def orders_in_batches(stream: faust.StreamT[Order]) -> None:
    """Count orders per user, a batch at a time."""
    async for batch in stream.take(50, within=0.2):
        for order in batch:
            user_orders[order.user] += 1


if __name__ == "__main__":
    app.main()
