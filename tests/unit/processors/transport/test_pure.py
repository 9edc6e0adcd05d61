"""Pure parts of the transport: broker URL options, compaction planning, encodings."""

from __future__ import annotations

import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from processors.transport.compaction import superseded
from processors.transport.options import broker_url, parse_broker_url
from processors.transport.producer import encode_key, headers_field
from processors.transport.rebalance import assigned_tps
from schema.log import decode_headers


def test_broker_url_options_are_split_from_the_redis_url() -> None:
    options = parse_broker_url(
        "redis://:secret@cache:6380/2?prefix=mh&compact_interval=60&block_ms=50&health_check_interval=5"
    )
    assert options.redis_url == "redis://:secret@cache:6380/2?health_check_interval=5"
    assert (options.prefix, options.compact_interval_s, options.block_ms) == ("mh", 60.0, 50)
    assert parse_broker_url("redis://").redis_url == "redis://127.0.0.1:6379"
    assert parse_broker_url("redis://h:1/0").prefix == "mindhit"


@pytest.mark.parametrize(
    "url",
    [
        "kafka://h:9092",
        "redis://h?prefix=",
        "redis://h?prefix=a:b",
        "redis://h?fetch_count=0",
        "redis://h?block_ms=x",
        "redis://h?lease_ms=10",
        "redis://h?wait_replicas=-1",
        "redis://h?wait_timeout_ms=-5",
        "redis://h?wait_timeout_ms=5000",
    ],
)
def test_bad_broker_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_broker_url(url)


def test_a_cluster_url_becomes_a_redis_broker_url_and_back() -> None:
    """Faust picks the transport by the scheme, so Redis Cluster is a query option."""
    url = broker_url("redis+cluster://10.0.0.1:7000/0", "mh", lease_ms=3000)
    assert url.startswith("redis://10.0.0.1:7000/0?") and "cluster=1" in url
    options = parse_broker_url(url)
    assert (options.redis_url, options.prefix) == ("redis+cluster://10.0.0.1:7000/0", "mh")
    assert parse_broker_url(broker_url("rediss+cluster://h:1", "mh")).redis_url == (
        "rediss+cluster://h:1"
    )
    assert parse_broker_url("redis://h:1/0?cluster=0").redis_url == "redis://h:1/0"
    seeds = broker_url("redis+cluster://:pw@h:1,h:2,[::1]:3/0", "mh")  # Faust's URL: one host
    assert seeds.startswith("redis://:pw@h:1/0?") and "seeds=" in seeds
    assert parse_broker_url(seeds).redis_url == "redis+cluster://:pw@h:1,h:2,[::1]:3/0"
    for bad in (
        "redis://h:1/0?cluster=yes",
        "unix:///tmp/r.sock?cluster=1",
        "redis://h:1?seeds=h:2",
    ):
        with pytest.raises(ValueError):
            parse_broker_url(bad)


def test_broker_url_round_trips() -> None:
    url = broker_url("redis://127.0.0.1:6379/0", "mindhit", compact_interval=30)
    options = parse_broker_url(url)
    assert (options.redis_url, options.prefix, options.compact_interval_s) == (
        "redis://127.0.0.1:6379/0",
        "mindhit",
        30.0,
    )


entries = st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b""]), max_size=60)


@given(entries)
def test_compaction_keeps_exactly_the_newest_entry_per_key(keys: list[bytes]) -> None:
    log = list(enumerate(keys))
    dropped = set(superseded(log))
    kept = [(offset, key) for offset, key in log if offset not in dropped]
    # Replaying what is kept gives the same final state as replaying everything.
    final_all = {key: offset for offset, key in log if key}
    final_kept = {key: offset for offset, key in kept if key}
    assert final_kept == final_all
    # Exactly one entry per key survives; unkeyed entries are never dropped.
    assert len([k for _, k in kept if k]) == len(final_all)
    assert all(keys[offset] for offset in dropped)
    # The newest entry (what recovery waits for as the highwater) always survives.
    if log:
        assert len(log) - 1 not in dropped


def test_keys_and_headers_are_encoded_for_the_stream() -> None:
    assert encode_key(None) is None
    assert encode_key(b"k") == b"k"
    assert encode_key("user-1") == b"user-1"
    assert encode_key(42) == b"42"
    assert headers_field(None) is None
    assert headers_field({}) is None
    encoded = headers_field({"a": b"1", "b": "2"})
    assert encoded is not None and decode_headers(encoded) == [("a", b"1"), ("b", b"2")]
    pairs = headers_field([("x", b"y")])
    assert pairs is not None and decode_headers(pairs) == [("x", b"y")]


def test_protocol_assignment_becomes_topic_partitions() -> None:
    assignment = ConsumerProtocolMemberAssignment(0, [("raw", [0, 2]), ("c", [1])], b"")
    assert assigned_tps(assignment) == {TP("raw", 0), TP("raw", 2), TP("c", 1)}


def test_app_options_follow_settings_and_bind_web_to_the_processors_host() -> None:
    from mindhit.settings import Settings
    from processors.transport.app_config import faust_app_options

    settings = Settings.from_env(
        {},
        key_prefix="mh",
        partitions=6,
        processors_host="127.0.0.1",
        processors_port=9101,
        commit_interval_s=0.7,
    )
    options = faust_app_options(settings, "redis://r:6379/1", broker_options={"lease_ms": 3000})
    parsed = parse_broker_url(options["broker"])
    assert (parsed.redis_url, parsed.prefix, parsed.lease_ms) == ("redis://r:6379/1", "mh", 3000)
    assert options["topic_partitions"] == 6
    assert (options["web_bind"], options["web_port"]) == ("127.0.0.1", 9101)
    assert options["broker_commit_interval"] == 0.7
    assert options["processing_guarantee"] == "at_least_once"


def test_wait_replicas_of_the_settings_reach_the_producer_through_the_broker_url() -> None:
    """One setting: the gateway and the transport wait for the same replicas."""
    from mindhit.settings import Settings
    from processors.transport.app_config import faust_app_options

    plain = faust_app_options(Settings.from_env({}), "redis://r:6379/1")["broker"]
    assert "wait" not in plain  # nothing changes without replicas to wait for
    assert parse_broker_url(plain).wait_replicas == 0
    settings = Settings.from_env({}, wait_replicas=2, wait_timeout_ms=250)
    options = parse_broker_url(faust_app_options(settings, "redis://r:6379/1")["broker"])
    assert (options.redis_url, options.wait_replicas, options.wait_timeout_ms) == (
        "redis://r:6379/1",
        2,
        250,
    )
