"""The client factory: which URLs select Redis Cluster, and what client each gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    ConnectionError,
    ResponseError,
    TryAgainError,
)

from mindhit.redis_client import (
    ReshardingCluster,
    connect_redis,
    connect_redis_sync,
    is_cluster,
    plain_url,
    redirected_only,
)

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
    assert isinstance(cluster, ReshardingCluster) and is_cluster(cluster)
    assert not is_cluster(single)
    assert not is_cluster(connect_redis_sync("redis://127.0.0.1:7000"))
    # (a blocking cluster client connects when made: tests/integration/test_redis_cluster.py)


def test_only_commands_no_node_ran_count_as_redirected() -> None:
    """Waiting out a slot move retries only what was refused, never what may have run."""
    assert redirected_only(TryAgainError("TRYAGAIN Multiple keys request during rehashing"))
    assert redirected_only(ClusterError("TTL exhausted."))
    assert redirected_only(
        ClusterError("Command # 2 (XREAD) of pipeline caused error: TTL exhausted")
    )
    assert not redirected_only(ClusterDownError("CLUSTERDOWN The cluster is down"))
    assert not redirected_only(ClusterError("some other cluster failure"))
    assert not redirected_only(ConnectionError("Connection reset by peer"))
    assert not redirected_only(ResponseError("OOM command not allowed"))
