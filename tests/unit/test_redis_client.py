"""The client factory: which URLs select Redis Cluster, and what client each gives."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    ConnectionError,
    DataError,
    ResponseError,
    TryAgainError,
)

from mindhit.redis_client import (
    NODE_BOOK,
    HiredisConnection,
    HiredisSSLConnection,
    NodeBook,
    ReshardingCluster,
    cluster_seeds,
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


def test_the_node_book_keeps_the_last_discovery_per_url() -> None:
    book = NodeBook()
    assert book.nodes("redis://a:1/0") == []
    book.record("redis://a:1/0", [("a", 1), ("b", 2), ("a", 1)])
    book.record("redis://other:1/0", [("x", 9)])
    book.record("redis://a:1/0", [])  # nothing learned: what was known stays
    assert book.nodes("redis://a:1/0") == [("a", 1), ("b", 2)]
    book.record("redis://a:1/0", [("b", 2), ("c", 3)])
    assert book.nodes("redis://a:1/0") == [("b", 2), ("c", 3)]


def test_a_new_cluster_client_also_starts_from_the_nodes_discovered() -> None:
    url = "redis://10.9.9.1:7000/0"
    NODE_BOOK.record(url, [("10.9.9.2", 7001), ("10.9.9.3", 7002)])
    client = connect_redis("redis+cluster://10.9.9.1:7000/0")
    names = set(client.nodes_manager.startup_nodes)  # type: ignore[attr-defined]
    assert names == {"10.9.9.1:7000", "10.9.9.2:7001", "10.9.9.3:7002"}


def test_a_cluster_url_may_name_several_seed_nodes() -> None:
    """A process started while the first is down finds the cluster through the others."""
    assert cluster_seeds("redis://:pw@10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002,h/0") == (
        "redis://:pw@10.0.0.1:7000/0",
        [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002), ("h", 6379)],
    )
    assert cluster_seeds("rediss://h:1") == ("rediss://h:1", [("h", 1)])
    # no path: the query (say a TLS CA file, itself a path) still ends the node list
    assert cluster_seeds("rediss://:pw@h:1,g:2?ssl_ca_certs=/etc/ca.pem") == (
        "rediss://:pw@h:1?ssl_ca_certs=/etc/ca.pem",
        [("h", 1), ("g", 2)],
    )
    tls = connect_redis("rediss+cluster://10.9.8.1:7000?ssl_ca_certs=/etc/ca.pem")
    assert tls.get_connection_kwargs()["ssl_ca_certs"] == "/etc/ca.pem"  # type: ignore[attr-defined]
    for bad in ("redis://h:1,:2/0", "redis://h:1,h:x/0"):
        with pytest.raises(ValueError):
            cluster_seeds(bad)
    client = connect_redis("redis+cluster://:pw@10.9.8.1:7000,10.9.8.2:7001,10.9.8.3:7002/0")
    nodes = client.nodes_manager.startup_nodes  # type: ignore[attr-defined]
    assert set(nodes) == {"10.9.8.1:7000", "10.9.8.2:7001", "10.9.8.3:7002"}
    assert {n.connection_kwargs.get("password") for n in nodes.values()} == {"pw"}


_argument = st.one_of(
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(allow_nan=False),
    st.binary().map(memoryview),
    st.binary().map(bytearray),
)


@given(
    st.sampled_from(["SET", "EVAL", b"MGET", "CONFIG GET", b"CLIENT SETNAME"]),
    st.lists(_argument, max_size=40),
)
def test_hiredis_packing_sends_what_redis_py_sends(name: str | bytes, args: list[object]) -> None:
    fast = b"".join(HiredisConnection().pack_command(name, *args))
    assert fast == b"".join(aioredis.Connection().pack_command(name, *args))


@pytest.mark.parametrize("bad", [True, None, object()])
def test_hiredis_packing_refuses_what_redis_py_refuses(bad: object) -> None:
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "key", bad)


def test_hiredis_packing_over_tls_sends_what_redis_py_sends() -> None:
    args = ("XADD", "{p0}:raw", "*", "v", b"\x00" * 3, 7, 1.5, memoryview(b"m"))
    fast = b"".join(HiredisSSLConnection().pack_command(*args))
    assert fast == b"".join(aioredis.SSLConnection().pack_command(*args))
    with pytest.raises(DataError):
        HiredisSSLConnection().pack_command("SET", "key", None)


def test_a_plain_url_packs_with_hiredis() -> None:
    assert connect_redis("redis://127.0.0.1:7000/0").connection_pool.connection_class is (
        HiredisConnection
    )
    assert connect_redis("rediss://127.0.0.1:7000/0").connection_pool.connection_class is (
        HiredisSSLConnection
    )
    waiting = connect_redis("rediss://127.0.0.1:7000/0", pool_timeout=1.0)
    assert waiting.connection_pool.connection_class is HiredisSSLConnection
    assert connect_redis("unix:///tmp/redis.sock").connection_pool.connection_class is (
        aioredis.UnixDomainSocketConnection
    )


async def test_a_cluster_pipeline_on_a_connection_closed_under_it_fails_as_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redis-py 8.1 closes every connection on CLUSTERDOWN; a pipeline then sending on one
    fails with AttributeError 'writelines': the gateway must see ConnectionError (503)."""

    async def closed_under(*_: object, **__: object) -> list[object]:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    monkeypatch.setattr(ClusterPipeline, "execute", closed_under)
    client = connect_redis("redis+cluster://127.0.0.1:7000/0")
    pipe = client.pipeline(transaction=False)
    pipe.get("{p0}:k")
    with pytest.raises(redis.ConnectionError, match="closed by the cluster client"):
        await pipe.execute()

    async def other_bug(*_: object, **__: object) -> list[object]:
        raise AttributeError("'NoneType' object has no attribute 'other'")

    monkeypatch.setattr(ClusterPipeline, "execute", other_bug)
    with pytest.raises(AttributeError, match="other"):
        await client.pipeline(transaction=False).execute()
