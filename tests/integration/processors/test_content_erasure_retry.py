"""An erasure of the content a user brought in that fails half-way on a Redis Cluster
(one DEL of many failed after others succeeded) deletes the rest when it is retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from mindhit.redis_client import connect_redis
from processors.content import ContentStore
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = pytest.mark.integration


async def test_a_retried_erasure_deletes_what_a_failed_one_left(
    own_cluster: Callable[..., PrivateRedisCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's listing went in the first DEL: a retry found nothing left to delete,
    and the URL versions (and their enrichments) of the failed DELs stayed."""
    cluster = own_cluster()
    client = connect_redis(cluster.url)
    try:
        store = ContentStore(client, "erase")
        versions = [(f"url{n}", f"text{n}") for n in range(400)]  # 801 keys: two DELs
        await store.mark_versions(versions, dict.fromkeys(versions, "user-a"))
        real = client.delete
        calls: list[int] = []

        async def delete(*keys: Any) -> Any:
            calls.append(len(keys))
            if len(calls) == 2:
                raise redis.ConnectionError("a master stopped answering")
            return await real(*keys)

        monkeypatch.setattr(client, "delete", delete)
        with pytest.raises(redis.ConnectionError):
            await store.erase_user("user-a")
        monkeypatch.setattr(client, "delete", real)
        await store.erase_user("user-a")  # the erasure's entry, redelivered
        left = [k async for k in client.scan_iter(match="erase:*")]
        assert len(left) == 0, len(left)
    finally:
        await client.aclose()
