"""An erasure's deletion of the URL-versions token is held by a replica before the
erasure is done: promoted without it, a replica would hand every worker back the token
it kept the erased user's versions under (processors/announced.py). Real redis-server
primary and replica (and a cluster with a replica per master); the replica frozen
(SIGSTOP) cannot acknowledge, so the erasure fails (and is retried) instead of ending
as if the deletion were safe. A Redis without replicas is not waited for."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from mindhit import replica_wait
from mindhit.redis_client import connect_redis
from mindhit.replica_wait import NotReplicated, replica_holds
from mindhit.streams import url_versions_token_key
from processors.content import ContentStore
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.servers import PrivateRedis, attach_replica

pytestmark = pytest.mark.integration

PREFIX = "mhtok"
VERSIONS = [(f"url{n}", f"text{n}") for n in range(3)]


async def _announced(client: aioredis.Redis) -> ContentStore:
    """A store whose user announced three versions, with the token a worker reads."""
    store = ContentStore(client, PREFIX)
    await store.mark_versions(VERSIONS, dict.fromkeys(VERSIONS, "user-a"))
    assert await store.versions.unknown(client.pipeline(transaction=False), VERSIONS) == []
    assert await client.exists(url_versions_token_key(PREFIX)) == 1
    return store


async def test_the_token_deletion_waits_for_the_replica(
    volatile_redis: PrivateRedis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replica_wait, "REPLICA_WAIT_MS", 300)
    replica = attach_replica(volatile_redis, tmp_path / "replica", appendonly=False)
    client = aioredis.Redis(port=volatile_redis.port)
    follower = redis.Redis(port=replica.port)
    try:
        store = await _announced(client)
        assert replica.process is not None
        replica.process.send_signal(signal.SIGSTOP)  # cannot acknowledge anything
        try:
            started = time.monotonic()
            with pytest.raises(NotReplicated):
                await store.erase_user("user-a")
            assert time.monotonic() - started >= 0.25
        finally:
            replica.process.send_signal(signal.SIGCONT)
        # The listing stays until the deletion is held: the retried erasure (the default
        # wait: the thawed replica catches up first) ends, and by then the replica holds
        # the deletion (no waiting for it here).
        assert await client.exists(f"{PREFIX}:user-content:user-a") == 1
        monkeypatch.setattr(replica_wait, "REPLICA_WAIT_MS", 2000)
        await store.erase_user("user-a")
        assert follower.exists(url_versions_token_key(PREFIX)) == 0
        assert follower.keys(f"{PREFIX}:*") == [
            f"{PREFIX}:{{{PREFIX}:urlver-token}}:replicated".encode()
        ]
    finally:
        await client.aclose()
        follower.close()
        replica.stop()


async def test_a_redis_without_replicas_is_not_waited_for(volatile_redis: PrivateRedis) -> None:
    client = aioredis.Redis(port=volatile_redis.port)
    try:
        store = await _announced(client)
        started = time.monotonic()
        await store.erase_user("user-a")
        assert time.monotonic() - started < 0.5 * replica_wait.REPLICA_WAIT_MS / 1000
        assert await client.keys(f"{PREFIX}:*") == []  # nothing written to wait for
        assert await replica_holds(client, PREFIX, url_versions_token_key(PREFIX)) == 0
    finally:
        await client.aclose()


async def test_on_a_cluster_the_token_node_s_replica_is_waited_for(
    own_cluster: Callable[..., PrivateRedisCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replica_wait, "REPLICA_WAIT_MS", 300)
    cluster = own_cluster(replicas=1)
    client = connect_redis(cluster.url)
    try:
        store = await _announced(client)
        token = url_versions_token_key(PREFIX)
        node = client.get_node_from_key(token)  # type: ignore[attr-defined]
        with cluster.replica_paused(node.port), pytest.raises(NotReplicated):
            await store.erase_user("user-a")
        monkeypatch.setattr(replica_wait, "REPLICA_WAIT_MS", 2000)  # the thawed one catches up
        await store.erase_user("user-a")
        assert await replica_holds(client, PREFIX, token) == 1
        left = [k async for k in client.scan_iter(match=f"{PREFIX}:*")]
        assert left == [replica_wait.ack_key(PREFIX, token).encode()]
    finally:
        await client.aclose()
