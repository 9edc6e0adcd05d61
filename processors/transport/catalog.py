"""Bookkeeping keys next to the streams: topic metadata and committed offsets.

Kafka keeps topic configuration and consumer-group offsets on the broker; here
they are Redis hashes under the app's key prefix (the layout is defined in
:mod:`mindhit.keys`, so the lag report reads it without importing this service):

``<prefix>:topics``                 topic → msgpack ``TopicMeta`` (partitions, compacting)
``<prefix>:{pN}:offsets:<group>``   ``"<topic>:<N>"`` → next offset to read (one hash per
                                    partition number, in the partition's hash slot)
``<prefix>:groups``                 set of groups that ever committed (for ``mindhit lag``)

Topics nobody declared (the raw topic is written by the gateway, not by Faust)
have the app's default partition count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit import offsets as group_offsets
from mindhit.keys import (
    groups_key,
    offsets_key,
    parse_tp_field,
    topics_key,
    tp_field,
)
from mindhit.redis_retry import until_reachable

__all__ = [
    "TopicCatalog",
    "TopicMeta",
    "groups_key",
    "load_committed",
    "load_groups",
    "load_topics",
    "offsets_key",
    "parse_tp_field",
    "save_committed",
    "save_topic",
    "topics_key",
    "tp_field",
]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class TopicMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What a topic was declared with."""

    partitions: int
    compacting: bool = False


def _meta(raw: Any) -> TopicMeta:
    return msgspec.convert(_decoder.decode(raw), TopicMeta)


async def load_topics(client: aioredis.Redis, prefix: str) -> dict[str, TopicMeta]:
    """Every declared topic with its metadata."""
    raw: Any = await client.hgetall(topics_key(prefix))
    return {name.decode(): _meta(value) for name, value in raw.items()}


async def save_topic(client: aioredis.Redis, prefix: str, topic: str, meta: TopicMeta) -> TopicMeta:
    """Declare ``topic`` unless it exists; return what is stored (the first declaration wins)."""
    key = topics_key(prefix)
    await client.hsetnx(key, topic, _encoder.encode(meta))  # type: ignore[misc]
    stored: Any = await client.hget(key, topic)
    return _meta(stored)


async def load_committed(
    client: aioredis.Redis,
    prefix: str,
    group: str,
    tps: Iterable[tuple[str, int]] | None = None,
    *,
    partitions: int | None = None,
) -> dict[tuple[str, int], int]:
    """Committed offsets of ``group``: of ``tps`` (one round trip), or of every topic's
    partitions ``0 .. partitions-1``.

    Raises:
        ValueError: neither ``tps`` nor ``partitions`` was given.
    """
    if tps is None:
        if partitions is None:
            raise ValueError("load_committed needs the partitions to read (tps or partitions)")
        return await group_offsets.load_committed(client, prefix, group, partitions)
    wanted = list(tps)
    if not wanted:
        return {}
    by_partition: dict[int, list[tuple[str, int]]] = {}
    for topic, partition in wanted:
        by_partition.setdefault(partition, []).append((topic, partition))
    pipe = client.pipeline(transaction=False)
    for partition, items in by_partition.items():
        pipe.hmget(offsets_key(prefix, group, partition), [tp_field(t, p) for t, p in items])
    replies = await pipe.execute()
    found: dict[tuple[str, int], int] = {}
    for items, values in zip(by_partition.values(), replies, strict=True):
        found.update((tp, int(v)) for tp, v in zip(items, values, strict=True) if v is not None)
    return found


save_committed = group_offsets.save_committed


async def load_groups(client: aioredis.Redis, prefix: str) -> list[str]:
    """Consumer groups that have committed, sorted."""
    members: Any = await client.smembers(groups_key(prefix))
    return sorted(m.decode() for m in members)


class TopicCatalog:
    """Partition counts of topics, cached from the ``<prefix>:topics`` hash.

    Faust asks for partition counts synchronously (``key_partition``), so the
    catalog is loaded once and kept current by declarations; topics nobody
    declared (e.g. the gateway's raw topic) get ``default_partitions``.
    """

    def __init__(
        self, new_client: Callable[[], aioredis.Redis], prefix: str, default_partitions: int
    ) -> None:
        self._new_client = new_client
        self.prefix = prefix
        self.default_partitions = default_partitions
        self._topics: dict[str, TopicMeta] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def ensure_loaded(self) -> None:
        """Read the declared topics once."""
        if self._loaded:
            return
        async with self._lock:
            if not self._loaded:
                await self.refresh()

    async def refresh(self) -> None:
        """Re-read the declared topics (waiting for Redis while it cannot be reached)."""

        async def load() -> dict[str, TopicMeta]:
            client = self._new_client()
            try:
                return await load_topics(client, self.prefix)
            finally:
                await client.aclose()

        self._topics.update(await until_reachable(load, what="topic catalog"))
        self._loaded = True

    def partitions(self, topic: str) -> int:
        """Partition count of ``topic``."""
        meta = self._topics.get(topic)
        return meta.partitions if meta else self.default_partitions

    def meta(self, topic: str) -> TopicMeta | None:
        """What ``topic`` was declared with, if it was."""
        return self._topics.get(topic)

    async def declare(self, topic: str, partitions: int, *, compacting: bool = False) -> TopicMeta:
        """Declare ``topic`` in Redis (the first declaration wins) and cache it.

        Faust declares its topics while the worker starts: Redis not answering then
        (the URL's node down, a master failing over) is waited out, not fatal.
        """
        wanted = TopicMeta(partitions=partitions or self.default_partitions, compacting=compacting)

        async def save() -> TopicMeta:
            client = self._new_client()
            try:
                return await save_topic(client, self.prefix, topic, wanted)
            finally:
                await client.aclose()

        meta = await until_reachable(save, what=f"declaring topic {topic}")
        self._topics[topic] = meta
        return meta
