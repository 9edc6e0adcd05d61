"""``mindhit lag`` on real Redis and PostgreSQL: Faust commits and projector checkpoints."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner

from mindhit import streams
from mindhit.cli import cli
from mindhit.group_state import GroupState
from mindhit.keys import PROJECTOR_GROUP
from processors.transport.catalog import save_committed
from schema.topics import stream_key

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def _fill(client: aioredis.Redis, prefix: str, topic: str, partition: int, n: int) -> None:
    for i in range(n):
        await streams.append(
            client, stream_key(prefix, topic, partition), b"x", key=b"k%d" % i, timestamp_ms=1
        )


async def test_lag_reports_faust_groups_and_projection_checkpoints(
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
    redis_url: str,
    database_url: str,
    key_prefix: str,
) -> None:
    await _fill(aredis, key_prefix, "raw", 0, 3)
    await _fill(aredis, key_prefix, "raw", 2, 5)
    await _fill(aredis, key_prefix, "visits", 1, 4)
    await save_committed(aredis, key_prefix, "processors", {("raw", 0): 2, ("raw", 2): 5})
    # Two live members of the group: the second joined, so generation 2 split the partitions.
    await GroupState(key_prefix, "processors", "worker-1", 5_000).heartbeat(aredis, 4)
    await GroupState(key_prefix, "processors", "worker-2", 5_000).heartbeat(aredis, 4)
    # One projector replica: the projector's group holds every partition.
    await GroupState(key_prefix, PROJECTOR_GROUP, "replica-1", 5_000).heartbeat(aredis, 4)
    projection = f"lagtest-{key_prefix}"
    await apg.execute(
        "INSERT INTO projection_checkpoints (projection, topic, partition, next_offset)"
        " VALUES (%s, 'visits', 1, 1)",
        (projection,),
    )
    try:
        env = {
            "MINDHIT_REDIS_URL": redis_url,
            "MINDHIT_DATABASE_URL": database_url,
            "MINDHIT_KEY_PREFIX": key_prefix,
            "MINDHIT_PARTITIONS": "4",
            "MINDHIT_LOG_FORMAT": "json",
        }
        # The command runs its own event loop, so it runs beside the test's.
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["lag", "--json"], env=env, catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        text = (
            await asyncio.to_thread(
                CliRunner().invoke, cli, ["lag"], env=env, catch_exceptions=False
            )
        ).output
    finally:
        await apg.execute("DELETE FROM projection_checkpoints WHERE projection = %s", (projection,))

    assert report["highwaters"]["raw"] == [3, 0, 5, 0]
    assert report["highwaters"]["visits"] == [0, 4, 0, 0]
    consumers = {(c["kind"], c["name"]): c for c in report["consumers"]}
    group = consumers[("faust", "processors")]
    assert group["total_lag"] == 1
    assert [(r["partition"], r["committed"], r["lag"]) for r in group["partitions"]] == [
        (0, 2, 1),
        (1, None, 0),
        (2, 5, 0),
        (3, None, 0),
    ]
    mine = consumers[("projection", projection)]
    assert mine["total_lag"] == 3
    assert report["groups"] == [
        {
            "name": "processors",
            "generation": 2,
            "kind": "faust",
            "assigned": True,
            "members": [
                {"member": "worker-1", "partitions": [0, 1]},
                {"member": "worker-2", "partitions": [2, 3]},
            ],
        },
        {
            "name": "projector",
            "generation": 1,
            "kind": "projector",
            "assigned": True,
            "members": [{"member": "replica-1", "partitions": [0, 1, 2, 3]}],
        },
    ]
    assert "faust group processors: generation 2" in text
    assert "projector group projector: generation 1" in text
    assert "replica-1: partitions 0-3" in text
    assert "worker-2: partitions 2-3" in text
    assert "faust processors: total lag 1" in text
    assert f"projection {projection}: total lag 3" in text
