"""Lease renewals and offset commits fail within the cluster client's bound on a frozen master,
and a worker's heartbeat keeps the leases on the masters that still answer.

A master that stops answering without closing its connections (``SIGSTOP`` here; in
production a paused VM, or a peer cut off without a reset) failed a pipelined renewal or
commit only after redis-py 8.1 had retried it again and again, rediscovering the
cluster each time (73-83 s here): a worker renewing its leases meanwhile held none of
them longer, and one committing stood still. Both are pipelines of one script
per partition; they now fail after :data:`~mindhit.redis_cluster.CALL_TIMEOUT_S` with
``redis.TimeoutError`` (retried by the transport as an unreachable Redis, a commit
never past a lost lease), and work again, nothing half-read, once the node answers.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from mindhit.keys import group_members_key
from mindhit.offsets import load_committed
from mindhit.redis_client import UNREACHABLE, connect_redis
from mindhit.redis_cluster import CALL_TIMEOUT_S
from processors.transport.catalog import TopicCatalog
from processors.transport.context import GroupContext
from processors.transport.lease import PartitionLeases
from processors.transport.membership import GroupMembership
from processors.transport.options import TransportOptions
from tests.support.redis_cluster import PrivateRedisCluster, leases_taken_while_frozen

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 8


async def _fails_in(call: Awaitable[Any]) -> float:
    """Await ``call`` (to a frozen node); return how long it took to fail."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(redis.TimeoutError):
        # The outer bound only ends the test if the call takes far too long (the bug).
        await asyncio.wait_for(call, 150)
    assert redis.TimeoutError in UNREACHABLE
    return loop.time() - began


async def test_renewals_and_commits_on_a_frozen_master_fail_in_time_and_then_work(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=60_000)  # frozen ~30 s: no failover
    frozen = cluster.ports[1]
    leases = PartitionLeases("frozen", "g", "worker-a", 120_000)
    owners = {p: cluster.owner(key_slot(leases.key(p).encode())) for p in range(PARTITIONS)}
    on_frozen = [p for p, owner in owners.items() if owner == frozen]
    elsewhere = [p for p, owner in owners.items() if owner != frozen]
    assert on_frozen and elsewhere
    partitions = {on_frozen[0], elsewhere[0]}
    client = connect_redis(cluster.url)
    try:
        assert await leases.renew(client, partitions) == partitions
        await leases.commit(client, {("t", p): 1 for p in partitions})
        process = cluster.processes[cluster.ports.index(frozen)]
        process.send_signal(signal.SIGSTOP)
        try:
            renewing = await _fails_in(leases.renew(client, partitions))
            committing = await _fails_in(leases.commit(client, {("t", p): 2 for p in partitions}))
        finally:
            process.send_signal(signal.SIGCONT)
        assert renewing < CALL_TIMEOUT_S + 2, renewing
        assert committing < CALL_TIMEOUT_S + 2, committing
        assert await leases.renew(client, partitions) == partitions
        await leases.commit(client, {("t", p): 3 for p in partitions})
        committed = await load_committed(client, "frozen", "g", partitions=PARTITIONS)
        assert committed == {("t", p): 3 for p in partitions}
    finally:
        await client.aclose()


async def test_a_heartbeat_keeps_the_healthy_masters_leases_while_one_master_is_frozen(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """A worker holding partitions on every master keeps those on the answering masters
    while one master is frozen for three leases: nobody else can take them, and once the
    master answers again it still holds every partition. Before, the heartbeat's check and
    renewal went to all nodes as one call and failed as a whole, so every lease lapsed."""
    cluster = own_cluster(node_timeout_ms=60_000)  # frozen ~9 s: no failover
    lease_ms = 3000
    prefix, group = "beat", "g"
    members_key = group_members_key(prefix, group)
    frozen = next(p for p in cluster.ports if p != cluster.owner(key_slot(members_key.encode())))
    options = TransportOptions(redis_url=cluster.url, prefix=prefix, lease_ms=lease_ms)
    ctx = GroupContext(
        options=options,
        catalog=TopicCatalog(lambda: connect_redis(cluster.url), prefix, PARTITIONS),
        group=group,
        member="worker-a",
        new_client=lambda: connect_redis(cluster.url),
    )
    lost: list[BaseException] = []

    async def on_lost(exc: BaseException) -> None:
        lost.append(exc)

    membership = GroupMembership(ctx, on_lost=on_lost)
    await membership.start()
    rival = PartitionLeases(prefix, group, "worker-b", lease_ms)
    client = connect_redis(cluster.url)
    try:
        generation = await membership.join(PARTITIONS)
        assert membership.mine() == set(range(PARTITIONS))  # the only member
        assert await membership.take(set(range(PARTITIONS)), generation.number)
        on_frozen = {
            p for p in range(PARTITIONS) if cluster.owner(key_slot(rival.key(p).encode())) == frozen
        }
        healthy = set(range(PARTITIONS)) - on_frozen
        assert on_frozen and healthy
        assert await rival.renew(client, healthy) == set()  # its client knows the slot map
        # 9 s: three leases
        taken = await leases_taken_while_frozen(cluster, frozen, rival, client, healthy, 9)
        assert taken == set(), f"another member took the leases of {sorted(taken)}"
        await asyncio.sleep(lease_ms / 1000)  # a heartbeat renews the frozen node's again
        assert await rival.renew(client, set(range(PARTITIONS))) == set()
        assert lost == [] and membership.held == set(range(PARTITIONS))
    finally:
        await membership.stop()
        await client.aclose()
