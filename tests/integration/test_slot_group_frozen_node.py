"""A group of commands kept on one node (``run_on_slot_node``) fails in time on a frozen node.

The gateway's append and its ``WAIT`` (``MINDHIT_WAIT_REPLICAS`` > 0) and the transport's
replication check go to their slot's node as one group on one connection
(:func:`mindhit.slot_pipeline.run_on_slot_node`), outside the cluster client's own
commands and pipelines, so outside their bound. A client that still has to discover the
cluster asks its seed nodes in turn first, each at the socket timeout (5 s) when frozen:
with two frozen seeds and the group's node frozen, the group took 15 s to fail. It is
now bounded as one call, slot map included (:data:`~mindhit.redis_cluster.CALL_TIMEOUT_S`),
and once the nodes answer again the next group reads its own replies.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any, cast

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from mindhit.redis_client import connect_redis
from mindhit.redis_cluster import CALL_TIMEOUT_S
from mindhit.slot_pipeline import run_on_slot_node
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_group_to_a_frozen_node_fails_within_the_bound_then_reads_right(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=60_000)  # frozen ~15 s: no failover
    first, second = cluster.ports[0], cluster.ports[1]
    key = next(
        k for n in range(64) if cluster.owner(key_slot((k := f"group:{{p{n}}}").encode())) == first
    )
    setup = connect_redis(cluster.url)
    await setup.set(key, b"before")
    await setup.aclose()
    client = cast(RedisCluster, connect_redis(cluster.seed_url))  # seeds: first, second, third
    stopped = [cluster.processes[cluster.ports.index(port)] for port in (first, second)]
    loop = asyncio.get_running_loop()
    try:
        for process in stopped:
            process.send_signal(signal.SIGSTOP)
        began = loop.time()
        try:
            with pytest.raises(redis.TimeoutError):
                # The outer bound ends the test only if the group takes far too long.
                await asyncio.wait_for(run_on_slot_node(client, key, [("GET", key)]), 60)
        finally:
            for process in stopped:
                process.send_signal(signal.SIGCONT)
        took = loop.time() - began
        assert took < CALL_TIMEOUT_S + 1.5
        replies: Any = await run_on_slot_node(client, key, [("SET", key, b"after"), ("GET", key)])
        assert replies == [True, b"after"]
    finally:
        await client.aclose()
