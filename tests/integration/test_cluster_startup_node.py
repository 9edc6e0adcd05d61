"""Failover of the node a Redis Cluster URL names: clients find the cluster through the others.

Every component is given one node (``redis+cluster://host:port``). When that node dies
and its replica takes over, a client already running keeps going through the nodes it
discovered; so must a client the process makes *afterwards* from the same URL (the
projector's restart after a lost connection, the transport's catalog at a rebalance).
A private cluster, three masters with a replica each, 1 s node timeout.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.crc import key_slot

from mindhit.redis_client import NODE_BOOK, connect_redis, plain_url
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_clients_made_after_the_url_node_died_find_the_cluster(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(replicas=1, node_timeout_ms=1000)
    keys = [f"startup:{{p{n}}}:raw" for n in range(8)]  # spread over every master
    first = connect_redis(cluster.url)
    for key in keys:
        await first.xadd(key, {"v": b"before"})
    cluster.wait_replicated(cluster.ports[0])  # else its replica may take over without them
    cluster.kill(cluster.ports[0])
    cluster.wait_failover(cluster.ports[0])

    later = connect_redis(cluster.url)  # the URL names only the dead node
    try:
        for client in (first, later):
            for key in keys:
                await client.xadd(key, {"v": b"after"})
        assert [await later.xlen(key) for key in keys] == [3] * len(keys)
    finally:
        await later.aclose()
        await first.aclose()

    cluster.restart(cluster.ports[0])  # back as its replica's replica: a node like any other
    cluster.wait_replica(cluster.ports[0])
    again = connect_redis(cluster.url)
    try:
        assert await again.xlen(keys[0]) == 3
    finally:
        await again.aclose()


async def test_a_cluster_none_of_whose_known_nodes_answers_is_a_connection_error(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """Like a plain Redis that is down (callers back off and retry), not a cluster error
    that ends the process."""
    cluster = own_cluster()
    client = connect_redis(cluster.url)
    assert await client.ping()
    await client.aclose()
    assert len(NODE_BOOK.nodes(plain_url(cluster.url)[0])) == 3
    cluster.stop()
    client = connect_redis(cluster.url, socket_connect_timeout=1)
    try:
        with pytest.raises(redis.ConnectionError):
            await client.ping()
    finally:
        await client.aclose()


async def test_a_client_made_while_the_first_master_is_dead_serves_the_other_masters(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """Before its replica takes over, ``CLUSTER SLOTS`` still names the dead master, the
    first primary a new client finds: redis-py read its command table from it and so
    the client could not start at all. Closing a client that lost a node closes every
    connection (redis-py left the healthy nodes' open)."""
    cluster = own_cluster(replicas=1, node_timeout_ms=5000)
    dead = cluster.ports[0]
    alive_key = next(
        k for n in range(8) if cluster.owner(key_slot((k := f"s:{{p{n}}}").encode())) != dead
    )
    dead_key = next(
        k for n in range(8) if cluster.owner(key_slot((k := f"s:{{p{n}}}").encode())) == dead
    )
    cluster.kill(dead)
    client = connect_redis(cluster.seed_url, socket_connect_timeout=1)
    try:
        assert await client.xadd(alive_key, {"v": b"1"})
        with pytest.raises(redis.ConnectionError):
            await client.xadd(dead_key, {"v": b"1"})  # until the replica takes over
    finally:
        await client.aclose()
    nodes = client.nodes_manager.nodes_cache.values()  # type: ignore[attr-defined]
    assert not [n.name for n in nodes for c in n._connections if c.is_connected]
