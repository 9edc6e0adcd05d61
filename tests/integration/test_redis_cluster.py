"""The test cluster itself, and what MindHit's helpers must do differently on it.

This runs in every mode (it starts its own cluster), so the fixture the
``MINDHIT_TEST_REDIS=cluster`` run relies on, and the per-slot paths that only a
cluster takes, are checked on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from mindhit.redis_client import HiredisConnection, connect_redis, connect_redis_sync, is_cluster
from mindhit.redis_durability import RedisDurability, inspect_redis
from mindhit.upload_log import (
    AppendPolicy,
    RawPartition,
    ReplicationTimeoutError,
    UploadId,
    append_uploads,
)
from schema.ids import uuid7
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedisCluster]:
    """A private 3-master cluster for this module."""
    started = PrivateRedisCluster(Path(tmp_path_factory.mktemp("cluster")))
    started.start()
    yield started
    started.stop()


async def test_three_masters_share_the_slots_and_one_client_reaches_all(
    cluster: PrivateRedisCluster,
) -> None:
    sync = connect_redis_sync(cluster.url)
    nodes = sync.execute_command("CLUSTER", "NODES")
    text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
    assert sum("master" in line for line in text.splitlines()) == 3
    client = connect_redis(cluster.url)
    assert is_cluster(client)
    keys = [f"t:{{p{n}}}:raw" for n in range(12)]
    slots = {sync.execute_command("CLUSTER", "KEYSLOT", key) for key in keys}
    owners = {sync.get_node_from_key(key).name for key in keys}  # type: ignore[attr-defined]
    assert len(slots) == 12 and len(owners) == 3  # the partitions spread over every master
    for key in keys:
        assert await client.xadd(key, {"v": key}, id="0-*") == b"0-1"
    found = {k.decode() async for k in client.scan_iter(match="t:*", count=100)}
    assert found == set(keys)  # SCAN ran on every primary
    assert await client.delete(*keys) == 12  # DEL split per slot
    await client.aclose()
    sync.close()


async def test_a_cluster_clients_connections_pack_commands_with_hiredis(
    cluster: PrivateRedisCluster,
) -> None:
    """Nodes found at discovery (and the startup node) pack in C, for the processors'
    clients and the gateway's waiting one; pipelines over every master, scripts and
    plain commands answer as before."""
    keys = [f"h:{{p{n}}}:k" for n in range(12)]
    for options in ({}, {"pool_timeout": 1.0}):
        client = connect_redis(cluster.url, **options)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, key.encode() * 3)
        assert await pipe.execute() == [True] * 12
        read = "return redis.call('GET', KEYS[1])"
        assert [await client.eval(read, 1, key) for key in keys] == [  # type: ignore[misc]
            key.encode() * 3 for key in keys
        ]
        nodes = client.get_nodes()  # type: ignore[attr-defined]
        assert len(nodes) == 3 and {n.connection_class for n in nodes} == {HiredisConnection}
        assert await client.delete(*keys) == 12
        await client.aclose()


async def test_durability_is_the_weakest_primarys(cluster: PrivateRedisCluster) -> None:
    """The gateway's start-up check asks every primary: an upload may land on any."""
    client = connect_redis(cluster.url)
    masters = [connect_redis_sync(f"redis://127.0.0.1:{port}/0") for port in cluster.ports]
    try:
        assert await inspect_redis(client) == RedisDurability(
            aof=False, rdb_saves=False, replicas=0
        )
        for master in masters[:2]:
            master.config_set("save", "3600 1")
        assert not (await inspect_redis(client)).rdb_saves  # one primary keeps nothing
        masters[2].config_set("save", "3600 1")
        assert (await inspect_redis(client)).rdb_saves
    finally:
        for master in masters:
            master.config_set("save", "")
            master.close()
        await client.aclose()


async def test_an_append_waits_for_the_replica_of_its_partitions_master(tmp_path: Path) -> None:
    """``WAIT`` goes to the stream's node with the script (it names no key: by default the
    cluster client would send it to every primary, which a pipeline refuses)."""
    cluster = PrivateRedisCluster(tmp_path, replicas=1)
    cluster.start()
    client = connect_redis(cluster.url)
    try:
        waiting = AppendPolicy(dedupe_ttl_s=60, wait_replicas=1, wait_timeout_ms=5_000)
        for partition in range(6):  # partitions on every master
            target = RawPartition.of("wt", partition)
            outcome = await append_uploads(
                client,
                target,
                b"entry",
                epoch="*",
                uploads=[UploadId("user", "client", str(uuid7()))],
                timestamp_ms=1,
                policy=waiting,
            )
            assert outcome.offset == 0
        assert (await inspect_redis(client)).replicas == 1  # every primary has its replica
        too_many = AppendPolicy(dedupe_ttl_s=60, wait_replicas=2, wait_timeout_ms=1_000)
        with pytest.raises(ReplicationTimeoutError, match="1 of 2 replicas"):
            await append_uploads(
                client,
                RawPartition.of("wt", 0),
                b"entry",
                epoch="*",
                uploads=[UploadId("user", "client", str(uuid7()))],
                timestamp_ms=2,
                policy=too_many,
            )
    finally:
        await client.aclose()
        cluster.stop()


async def test_an_append_whose_slot_moves_waits_for_the_new_masters_replica(
    tmp_path: Path,
) -> None:
    """``WAIT`` follows the script when a resharding redirects it (``ASK`` while the slot
    migrates, ``MOVED`` after): the new master's replica must have the entry."""
    cluster = PrivateRedisCluster(tmp_path, replicas=1)
    cluster.start()
    client = connect_redis(cluster.url)
    target = RawPartition.of("wt", 0)

    async def append(timestamp_ms: int, wait_timeout_ms: int = 5_000) -> int | None:
        outcome = await append_uploads(
            client,
            target,
            b"entry",
            epoch="*",
            uploads=[UploadId("user", "client", str(uuid7()))],
            timestamp_ms=timestamp_ms,
            policy=AppendPolicy(dedupe_ttl_s=60, wait_replicas=1, wait_timeout_ms=wait_timeout_ms),
        )
        return outcome.offset

    try:
        assert await append(1) == 0  # the client's slot map: the partition on its master
        slot = key_slot(target.stream.encode())
        new_master = next(p for p in cluster.ports[:3] if p != cluster.owner(slot))
        cluster.move_slot(slot, new_master, finish=False)  # every key moved: ASK
        with cluster.replica_paused(new_master):
            with pytest.raises(ReplicationTimeoutError, match="0 of 1 replicas"):
                await append(2, wait_timeout_ms=300)
            cluster.assign_slot(slot, new_master)  # MOVED for the client's old map
            with pytest.raises(ReplicationTimeoutError, match="0 of 1 replicas"):
                await append(3, wait_timeout_ms=300)
        assert await append(4) == 3  # appended each time, acknowledged once replicated
    finally:
        await client.aclose()
        cluster.stop()


@pytest.mark.slow
async def test_a_master_killed_once_its_replica_has_its_writes_loses_none_of_them(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """Replication is asynchronous: the writes a master acknowledged and its replica had
    not yet received are gone once that replica takes over (a CI run of the startup
    test killed the master ~90 ms after its backlog, 0.1 s after the replica's initial
    sync: the promoted replica had none of it, and the worker had nothing to fold).
    :meth:`~PrivateRedisCluster.wait_replicated` is what a test that kills a master
    waits for first: it refuses while the replica lacks writes, and after it returns a
    kill loses nothing."""
    cluster = own_cluster(replicas=1, node_timeout_ms=1000)
    master = cluster.ports[0]
    key = next(
        k for n in range(64) if cluster.owner(key_slot((k := f"w{{{n}}}").encode())) == master
    )
    client = connect_redis(cluster.url)
    try:
        with cluster.replica_paused(master):
            for i in range(50):
                await client.xadd(key, {"v": b"%d" % i})
            with pytest.raises(RuntimeError, match="did not become ready"):
                cluster.wait_replicated(master, timeout=1.5)
        cluster.wait_replicated(master)
    finally:
        await client.aclose()
    cluster.kill(master)
    cluster.wait_failover(master)
    after = connect_redis(cluster.seed_url)
    try:
        assert await after.xlen(key) == 50
    finally:
        await after.aclose()
