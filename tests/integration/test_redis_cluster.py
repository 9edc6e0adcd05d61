"""The test cluster itself: three masters, and the factory's client spans them.

This runs in every mode (it starts its own cluster), so the fixture the
``MINDHIT_TEST_REDIS=cluster`` run relies on is checked on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mindhit.redis_client import connect_redis, connect_redis_sync, is_cluster
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = pytest.mark.integration


async def test_three_masters_share_the_slots_and_one_client_reaches_all(tmp_path: Path) -> None:
    cluster = PrivateRedisCluster(tmp_path)
    cluster.start()
    try:
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
    finally:
        cluster.stop()
