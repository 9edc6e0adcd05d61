"""Per-partition offsets and the legacy all-partition hash (pure parts), as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from mindhit.keys import (
    epoch_field,
    legacy_offsets_key,
    offsets_key,
    partition_lease_key,
    tp_field,
)
from mindhit.offsets import committed_of, field_partition, merge_legacy, split_by_partition
from schema.topics import stream_key

topics = st.sampled_from(["raw", "visits", "app-counts-changelog", "a:b"])
partitions = st.integers(0, 30)
offsets = st.integers(0, 10**9).map(lambda n: str(n).encode())


@st.composite
def partition_fields(draw: st.DrawFn, partition: int) -> dict[bytes, bytes]:
    """The fields one partition's offsets hash holds: topic offsets and maybe an epoch."""
    fields = {
        tp_field(topic, partition).encode(): draw(offsets)
        for topic in draw(st.sets(topics, max_size=3))
    }
    if draw(st.booleans()):
        fields[epoch_field(partition).encode()] = draw(st.sampled_from([b"e1", b"e2"]))
    return fields


group_layout = st.dictionaries(partitions, st.booleans(), max_size=8)


@given(group_layout, st.data())
def test_a_legacy_hash_splits_into_its_partitions_and_lease_fields_go(
    layout: dict[int, bool], data: st.DataObject
) -> None:
    per_partition = {p: data.draw(partition_fields(p)) for p in layout}
    legacy: dict[bytes, bytes] = {b"lease.member": b"w1", b"lease.expires": b"9"}
    for fields in per_partition.values():
        legacy.update(fields)
    assert split_by_partition(legacy) == {p: f for p, f in per_partition.items() if f}
    assert field_partition(b"lease.member") is None


@given(group_layout, st.data())
def test_each_partition_is_read_from_its_own_hash_else_from_the_legacy_one(
    layout: dict[int, bool], data: st.DataObject
) -> None:
    """``layout``: partition → whether it has a hash of its own (committed since)."""
    legacy = {p: data.draw(partition_fields(p)) for p in layout}
    own = {p: data.draw(partition_fields(p)) if has else {} for p, has in layout.items()}
    merged = merge_legacy({f: v for fields in legacy.values() for f, v in fields.items()}, own)
    for partition, has in layout.items():
        expected = own[partition] if has and own[partition] else legacy[partition]
        assert {f: v for f, v in merged.items() if field_partition(f) == partition} == expected
    for (topic, partition), offset in committed_of(merged).items():
        assert merged[tp_field(topic, partition).encode()] == str(offset).encode()


@given(st.text(min_size=1, max_size=12).filter(lambda g: "{" not in g), partitions)
def test_a_partitions_offsets_share_its_leases_and_streams_slot(group: str, partition: int) -> None:
    """One Redis Cluster slot, so the fenced commit script may touch lease and offsets."""
    slot = key_slot(offsets_key("mh", group, partition).encode())
    assert slot == key_slot(partition_lease_key("mh", group, partition).encode())
    assert slot == key_slot(stream_key("mh", "raw", partition).encode())
    assert offsets_key("mh", group, partition) != legacy_offsets_key("mh", group)
