"""The client factory: which URLs select Redis Cluster, and what client each gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.cluster import RedisCluster

from mindhit.redis_client import connect_redis, connect_redis_sync, is_cluster, plain_url

_rest = st.from_regex(r"[a-z0-9.-]{1,20}:[0-9]{1,5}(/[0-9])?", fullmatch=True)


@given(_rest, st.sampled_from(["redis", "rediss", "REDIS"]))
def test_a_cluster_scheme_stands_for_its_plain_one(rest: str, scheme: str) -> None:
    assert plain_url(f"{scheme}+cluster://{rest}") == (f"{scheme.lower()}://{rest}", True)


@given(_rest, st.sampled_from(["redis", "rediss", "unix"]))
def test_a_plain_url_is_kept(rest: str, scheme: str) -> None:
    assert plain_url(f"{scheme}://{rest}") == (f"{scheme}://{rest}", False)


def test_the_scheme_picks_the_client() -> None:
    cluster = connect_redis("redis+cluster://127.0.0.1:7000/0", decode_responses=True)
    single = connect_redis("redis://127.0.0.1:7000/0")
    assert isinstance(cluster, RedisCluster) and is_cluster(cluster)
    assert not is_cluster(single)
    assert not is_cluster(connect_redis_sync("redis://127.0.0.1:7000"))
    # (a blocking cluster client connects when made: tests/integration/test_redis_cluster.py)
