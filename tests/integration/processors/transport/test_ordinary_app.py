"""An ordinary Faust app gives the same tables on redis:// as in its test_context() run."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.integration.processors.transport import ordinary_app
from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    worker_env,
)

pytestmark = pytest.mark.integration

ORDINARY = "tests.integration.processors.transport.ordinary_app"


def _orders() -> list[dict[str, Any]]:
    return [
        {"user": f"u{i % 7}", "item": f"i{i % 5}", "amount": i % 13, "ts": 1_700_000_000 + i * 97}
        for i in range(600)
    ]


def _plain(key: Any) -> Any:
    """Window keys as hashable tuples, whether from memory or from JSON."""
    if isinstance(key, (list, tuple)):
        return tuple(_plain(part) for part in key)
    return key


async def _unit_run(orders: list[dict[str, Any]]) -> dict[str, dict[Any, int]]:
    for agent in (
        ordinary_app.totals_by_item,
        ordinary_app.hourly_by_user,
        ordinary_app.orders_in_batches,
    ):
        async with agent.test_context() as running:
            for order in orders:
                await running.put(ordinary_app.Order(**order), key=order["user"])
            await asyncio.sleep(0.5)  # let stream.take's within= flush the last batch
    return {
        "item_totals": dict(ordinary_app.item_totals.data),
        "user_orders": dict(ordinary_app.user_orders.data),
        "user_hourly": {_plain(k): v for k, v in ordinary_app.user_hourly.table.data.items()},
    }


async def _redis_run(client: aioredis.Redis, prefix: str, app_id: str) -> dict[str, dict[Any, int]]:
    result: dict[str, dict[Any, int]] = {}
    for table in ("item_totals", "user_orders", "user_hourly"):
        state = await table_state(client, prefix, f"{app_id}-{table}-changelog")
        result[table] = {_plain(json.loads(k)): json.loads(v) for k, v in state.items()}
    return result


@pytest.mark.slow
async def test_same_tables_as_test_context(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    orders = _orders()
    expected = await _unit_run(orders)
    assert sum(expected["user_orders"].values()) == len(orders)
    assert len(expected["user_hourly"]) > 7  # several windows per user

    await produce(
        aredis,
        key_prefix,
        "orders",
        [(o["user"].encode(), json.dumps(o).encode()) for o in orders],
    )
    worker = Worker(
        ORDINARY, worker_env(redis_url, key_prefix, "ordinary"), tmp_path / "worker.log"
    ).start()
    workers.append(worker)
    deadline = time.monotonic() + 60
    actual = await _redis_run(aredis, key_prefix, "ordinary")
    while actual != expected and time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        await asyncio.sleep(0.3)
        actual = await _redis_run(aredis, key_prefix, "ordinary")
    assert actual == expected
    # group_by really went through a repartition topic on Redis.
    assert await aredis.keys(f"{key_prefix}:*-orders-Order.item-repartition")
    assert worker.stop(signal.SIGTERM) == 0
