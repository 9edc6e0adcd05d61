"""A consumer group's committed offsets in Redis: one hash per partition number.

The Faust transport commits each partition's offsets into
``<prefix>:{pN}:offsets:<group>`` (:func:`mindhit.keys.offsets_key`), in the partition's
hash slot so a commit is fenced by the partition's lease in one Lua call, on one Redis or
on Redis Cluster. Everyone else (the lag report, the projector's stream retention,
recovery, tests and benchmarks) reads them here.

Deployments from before kept one hash per group for all partitions
(:func:`mindhit.keys.legacy_offsets_key`, the same fields). :func:`migrate_legacy` moves
it into the per-partition hashes once (the transport runs it when a worker joins its
group); until it has run, readers take a partition's fields from the old hash while that
partition has no hash of its own (:func:`merge_legacy`), so nothing reads the group as
having committed nothing (stream retention would trim past it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import (
    TP,
    epoch_field_partition,
    groups_key,
    is_tp_field,
    legacy_offsets_key,
    offsets_key,
    parse_tp_field,
    tp_field,
)
from mindhit.log_epoch import Position

__all__ = [
    "clear_partition",
    "committed_of",
    "faust_positions",
    "field_partition",
    "load_committed",
    "merge_legacy",
    "migrate_legacy",
    "read_group_fields",
    "save_committed",
    "split_by_partition",
]

Fields = Mapping[bytes, bytes]


def field_partition(field: bytes | str) -> int | None:
    """The partition an offsets field belongs to (``<topic>:<N>`` or ``epoch.p<N>``), else None.

    Other fields (the ``lease.*`` fields very old deployments kept in the hash) have none.
    """
    epoch = epoch_field_partition(field)
    if epoch is not None:
        return epoch
    return parse_tp_field(field)[1] if is_tp_field(field) else None


def split_by_partition(fields: Fields) -> dict[int, dict[bytes, bytes]]:
    """The fields of a (legacy, all-partition) offsets hash, per partition (pure)."""
    result: dict[int, dict[bytes, bytes]] = {}
    for field, value in fields.items():
        partition = field_partition(field)
        if partition is not None:
            result.setdefault(partition, {})[field] = value
    return result


def merge_legacy(legacy: Fields, own: Mapping[int, Fields]) -> dict[bytes, bytes]:
    """One flat field map of a group (pure): each partition's own hash, else the legacy one's.

    A partition with a hash of its own was committed (or migrated) since: its legacy
    fields are stale and ignored, epoch included.
    """
    merged: dict[bytes, bytes] = {}
    for partition, fields in split_by_partition(legacy).items():
        if not own.get(partition):
            merged.update(fields)
    for own_fields in own.values():
        merged.update(own_fields)
    return merged


def committed_of(fields: Fields) -> dict[TP, int]:
    """The committed offset per (topic, partition) among offsets fields (pure)."""
    return {parse_tp_field(f): int(v) for f, v in fields.items() if is_tp_field(f)}


def faust_positions(group: str, stored: Mapping[Any, Any]) -> list[Position]:
    """A Faust group's committed offsets with their epochs, from its offsets fields (pure)."""
    epochs: dict[int, str] = {}
    for field, value in stored.items():
        partition = epoch_field_partition(field)
        if partition is not None:
            epochs[partition] = value.decode() if isinstance(value, bytes) else str(value)
    found = []
    for field, value in stored.items():
        if is_tp_field(field):
            topic, partition = parse_tp_field(field)
            found.append(
                Position(
                    consumer=f"faust:{group}",
                    topic=topic,
                    partition=partition,
                    offset=int(value),
                    epoch=epochs.get(partition),
                )
            )
    return found


async def read_group_fields(
    client: aioredis.Redis, prefix: str, group: str, partitions: int
) -> dict[bytes, bytes]:
    """Every offsets field of ``group`` for partitions ``0 .. partitions-1`` (one round trip).

    Fields are ``<topic>:<N>`` (next offset to read) and ``epoch.p<N>``, merged from the
    per-partition hashes and, for partitions without one, the legacy hash.
    """
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(legacy_offsets_key(prefix, group))
    for partition in range(partitions):
        pipe.hgetall(offsets_key(prefix, group, partition))
    legacy, *own = await pipe.execute()
    return merge_legacy(legacy, dict(enumerate(own)))


async def load_committed(
    client: aioredis.Redis, prefix: str, group: str, partitions: int
) -> dict[TP, int]:
    """Committed offsets of ``group`` on every topic's partitions ``0 .. partitions-1``."""
    return committed_of(await read_group_fields(client, prefix, group, partitions))


async def save_committed(
    client: aioredis.Redis, prefix: str, group: str, offsets: Mapping[TP, int]
) -> None:
    """Store committed offsets of ``group`` unfenced, in one round trip (tools and tests).

    The transport's own commits go through its fenced commit script instead.
    """
    if not offsets:
        return
    pipe = client.pipeline(transaction=False)
    for (topic, partition), offset in offsets.items():
        pipe.hset(offsets_key(prefix, group, partition), tp_field(topic, partition), offset)
    pipe.sadd(groups_key(prefix), group)
    await pipe.execute()


async def migrate_legacy(client: aioredis.Redis, prefix: str, group: str) -> int:
    """Move ``group``'s legacy offsets hash into per-partition hashes; return fields copied.

    Steps:
        1. Read the legacy hash; nothing to do when it is gone (one round trip after
           the first run).
        2. Copy each field into its partition's hash with ``HSETNX``: a field already
           there was committed (or moved) since, and wins.
        3. Delete the legacy hash.

    Safe to run by several workers at once and again after a crash between 2 and 3.
    A commit an old-version worker stores in the legacy hash between 1 and 3 is lost,
    so its partition is replayed from the commit before (at-least-once, as after a
    crash); stop old workers before starting new ones to avoid that replay.
    """
    key = legacy_offsets_key(prefix, group)
    legacy: Any = await client.hgetall(key)  # type: ignore[misc]
    if not legacy:
        return 0
    pipe = client.pipeline(transaction=False)
    for partition, fields in split_by_partition(legacy).items():
        for field, value in fields.items():
            pipe.hsetnx(offsets_key(prefix, group, partition), field, value)
    moved = sum(int(stored) for stored in await pipe.execute())
    await client.delete(key)
    return moved


async def clear_partition(client: aioredis.Redis, prefix: str, group: str, partition: int) -> None:
    """Forget ``group``'s positions on every topic's ``partition`` (recovery).

    Both the per-partition hash and the partition's fields in a legacy hash go, so a
    later :func:`migrate_legacy` cannot bring them back.
    """
    legacy = legacy_offsets_key(prefix, group)
    stale = [f for f in await client.hkeys(legacy) if field_partition(f) == partition]  # type: ignore[misc]
    await client.delete(offsets_key(prefix, group, partition))
    if stale:
        await client.hdel(legacy, *stale)  # type: ignore[misc]
