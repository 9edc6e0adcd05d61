"""The one place that appends to and reads from topic streams.

Topic partitions are Redis streams whose entry IDs are ``0-1, 0-2, …``: every
append uses ``XADD <key> 0-* …``, which Redis ≥ 7 turns into the next sequence
number atomically across concurrent producers. That gives Kafka-like dense
offsets: ``offset = sequence - 1``. A single ``XADD <key> *`` by anyone would
break a stream for good (its IDs would jump to wall-clock time), so nothing may
append to a topic stream except through this module or :mod:`mindhit.upload_log`
(Python or their Lua scripts).

Field names and value encodings are defined by :mod:`schema.log`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from mindhit.redis_client import is_cluster
from mindhit.redis_cluster import CALL_TIMEOUT_S, within
from schema.log import FIELD_HEADERS, FIELD_KEY, FIELD_TIMESTAMP, FIELD_VALUE
from schema.topics import partition_tag

__all__ = [
    "CLUSTER_POLL_MS",
    "StreamRecord",
    "append",
    "by_slot",
    "content_holders_key",
    "content_key",
    "earliest_offset",
    "entry_id",
    "highwater",
    "highwaters",
    "offset_of",
    "quarantine_key",
    "queue_append",
    "read",
    "records_of",
    "sessions_key",
    "url_versions_token_key",
    "xread_args",
]

DENSE_ID = "0-*"
_APPEND_FENCED_LUA = resources.files("mindhit.lua").joinpath("append_fenced.lua").read_text()


def entry_id(offset: int) -> str:
    """The stream entry ID holding ``offset`` (0-based)."""
    return f"0-{offset + 1}"


def offset_of(stream_id: bytes | str) -> int:
    """The 0-based offset of a stream entry ID such as ``b"0-7"`` (→ 6)."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    major, _, seq = text.partition("-")
    if major != "0":
        raise ValueError(f"stream entry {text!r} was not appended with dense IDs (XADD 0-*)")
    return int(seq) - 1


def _fields(
    value: bytes | None, key: bytes | None, timestamp_ms: int, headers: bytes | None
) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {
        FIELD_KEY: key or b"",
        FIELD_TIMESTAMP: str(timestamp_ms).encode(),
    }
    if value is not None:  # a tombstone (table delete in a changelog) has no value field
        fields[FIELD_VALUE] = value
    if headers:
        fields[FIELD_HEADERS] = headers
    return fields


def queue_append(
    pipe: Pipeline,
    stream: str,
    value: bytes | None,
    *,
    key: bytes | None,
    timestamp_ms: int,
    headers: bytes | None = None,
    fence: tuple[str, str] | None = None,
) -> None:
    """Queue one dense append on a pipeline (result: its entry ID); with ``fence`` = (lease hash
    sharing the stream's hash tag, member id) only while it names that member, else FENCED."""
    fields = _fields(value, key, timestamp_ms, headers)
    if fence is None:
        pipe.xadd(stream, fields, id=DENSE_ID)  # type: ignore[arg-type]
    else:
        pairs = [part for item in fields.items() for part in item]
        pipe.eval(_APPEND_FENCED_LUA, 2, fence[0], stream, fence[1], *pairs)


async def append(
    client: aioredis.Redis,
    stream: str,
    value: bytes,
    *,
    key: bytes | None,
    timestamp_ms: int,
    headers: bytes | None = None,
) -> int:
    """Append one entry; return its offset."""
    new_id = await client.xadd(
        stream,
        _fields(value, key, timestamp_ms, headers),  # type: ignore[arg-type]
        id=DENSE_ID,
    )
    return offset_of(new_id)


class StreamRecord:
    """One entry read from a topic stream: where it is and its raw fields."""

    __slots__ = ("fields", "offset", "stream")

    def __init__(self, stream: str, offset: int, fields: Mapping[bytes, bytes]) -> None:
        self.stream = stream
        self.offset = offset
        self.fields = fields

    @property
    def value(self) -> bytes:
        """The encoded message value."""
        return self.fields[FIELD_VALUE]

    @property
    def key(self) -> bytes:
        """The message key (empty when none)."""
        return self.fields.get(FIELD_KEY, b"")

    @property
    def timestamp_ms(self) -> int:
        """The producer's timestamp, Unix milliseconds."""
        return int(self.fields.get(FIELD_TIMESTAMP, b"0"))

    @property
    def headers(self) -> bytes | None:
        """The encoded headers, if any."""
        return self.fields.get(FIELD_HEADERS)


CLUSTER_POLL_MS = 20
"""On Redis Cluster, how long a read over several hash slots that found nothing waits
before it returns (it cannot block: see :func:`read`)."""


async def read(
    client: aioredis.Redis,
    positions: Mapping[str, int],
    *,
    count: int = 100,
    block_ms: int | None = None,
) -> list[StreamRecord]:
    """Read entries at or after each stream's next offset (``positions``: stream → offset).

    One ``XREAD`` (blocking up to ``block_ms`` when given) over all the streams. On Redis
    Cluster one command may only name keys of one hash slot, so streams of several slots
    (several partitions) are read with one non-blocking ``XREAD`` per slot, pipelined
    (one round trip per node, in parallel); when none of them returned anything, the read
    waits ``min(block_ms, CLUSTER_POLL_MS)`` before returning, instead of blocking.

    Raises:
        redis.TimeoutError: a node stopped answering without closing its connections
            (frozen, or cut off without a reset): after redis-py's socket timeout (5 s)
            on one Redis; on Redis Cluster after the client's ``call_timeout_s``
            (:data:`mindhit.redis_cluster.CALL_TIMEOUT_S`, 12 s; the slot map's refresh
            first, which may ask that node too, included), where redis-py 8.1,
            retrying with rediscovery, took 88 s to fail a read over several
            partitions, a worker folding nothing meanwhile, from the healthy masters
            either. Callers retry the read as any unreachable Redis
            (:data:`mindhit.redis_client.UNREACHABLE`).
    """
    if not positions:
        return []
    # XREAD returns entries strictly after the given ID; offset N lives at 0-(N+1).
    ids = {stream: f"0-{offset}" for stream, offset in positions.items()}
    if is_cluster(client):
        cluster = cast(RedisCluster, client)
        # Two calls (the slot map, then the read): bounded as one.
        limit_s = getattr(cluster, "call_timeout_s", CALL_TIMEOUT_S)
        return await within(limit_s, _read_cluster(cluster, ids, count, block_ms), "XREAD")
    reply: Any = await client.xread(ids, count=count, block=block_ms)  # type: ignore[arg-type]
    return records_of(reply)


def by_slot(ids: Mapping[str, str]) -> list[dict[str, str]]:
    """``ids`` split into groups of streams that share a Redis Cluster hash slot."""
    groups: dict[int, dict[str, str]] = {}
    for stream, start in ids.items():
        groups.setdefault(key_slot(stream.encode()), {})[stream] = start
    return list(groups.values())


def xread_args(ids: Mapping[str, str], count: int, block_ms: int | None) -> list[Any]:
    """The ``XREAD`` command for ``ids`` (stream → entry ID to read after)."""
    block = ["BLOCK", block_ms] if block_ms is not None else []
    return ["XREAD", "COUNT", count, *block, "STREAMS", *ids, *ids.values()]


async def _read_cluster(
    client: RedisCluster, ids: dict[str, str], count: int, block_ms: int | None
) -> list[StreamRecord]:
    """Each slot's ``XREAD`` sent straight to the node serving the slot.

    redis-py would ask a node for an ``XREAD``'s keys (``COMMAND GETKEYS``, twice: its keys
    are not at fixed positions) before each one; the node is known from the stream's slot.
    A node that no longer serves the slot answers ``MOVED``, which the client follows and
    remembers (the slot map this reads is patched); while the slot is migrating, a read
    of its streams waits out ``ASK`` and ``TRYAGAIN``
    (:class:`mindhit.redis_client.ReshardingCluster`).
    """
    await client.initialize()  # the slot map (a no-op once known)
    slots = by_slot(ids)
    if len(slots) == 1:
        node = client.get_node_from_key(next(iter(ids)))
        reply = await client.execute_command(*xread_args(ids, count, block_ms), target_nodes=node)
        return records_of(reply)
    pipe = client.pipeline(transaction=False)
    for group in slots:
        node = client.get_node_from_key(next(iter(group)))
        pipe.execute_command(*xread_args(group, count, None), target_nodes=node)
    records = [record for reply in await pipe.execute() for record in records_of(reply)]
    if not records and block_ms:
        await asyncio.sleep(min(block_ms, CLUSTER_POLL_MS) / 1000)
    return records


def records_of(reply: Any) -> list[StreamRecord]:
    """The entries of an ``XREAD`` reply (RESP2 or RESP3)."""
    records: list[StreamRecord] = []
    for stream_name, entries in _items(reply):
        name = stream_name.decode() if isinstance(stream_name, bytes) else stream_name
        records.extend(StreamRecord(name, offset_of(eid), fields) for eid, fields in entries)
    return records


def _items(reply: Any) -> Sequence[tuple[Any, Any]]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        return [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items()]
    return [(item[0], item[1]) for item in reply]


async def highwater(client: aioredis.Redis, stream: str) -> int:
    """The offset the next append will get (the number of entries ever appended)."""
    try:
        info: Any = await client.xinfo_stream(stream)
    except aioredis.ResponseError:  # no such key
        return 0
    last = info["last-generated-id"]
    return offset_of(last) + 1


async def highwaters(client: aioredis.Redis, streams: Sequence[str]) -> list[int]:
    """The highwater of each of ``streams`` (one pipelined round trip), 0 where there is no
    such stream. Any other error is raised, never taken for an empty stream: a node that
    did not answer, ``CLUSTERDOWN`` mid-failover or ``BUSY`` would read as a log lost
    under the committed offsets, or in ``mindhit lag`` as a highwater of 0."""
    if not streams:
        return []
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xinfo_stream(stream)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    return [_highwater_of(reply) for reply in replies]


def _highwater_of(reply: Any) -> int:
    """A stream's highwater from its ``XINFO STREAM`` reply (see :func:`highwaters`)."""
    if isinstance(reply, Exception):
        if "no such key" in str(reply).lower():
            return 0
        raise reply
    return offset_of(reply["last-generated-id"]) + 1


async def earliest_offset(client: aioredis.Redis, stream: str) -> int:
    """The offset of the oldest entry still in the stream (== highwater when empty).

    One command, so the answer holds for one moment: asked as ``XRANGE`` then ``XINFO``,
    a stream created in between looked empty and then trimmed up to its first appends,
    and a reader resuming at 0 took those entries for a trimmed gap and skipped them.
    """
    try:
        info: Any = await client.xinfo_stream(stream)
    except aioredis.ResponseError:  # no such key
        return 0
    first = info.get("first-entry")
    if first:
        return offset_of(first[0])
    return offset_of(info["last-generated-id"]) + 1


def content_key(prefix: str, content_hash: str) -> str:
    """The key holding one page text, stored once per content hash (written by the processors).

    The gateway checks it to keep already-known text out of the log. The hash is the
    key's hash tag, shared with :func:`content_holders_key`, so the script that drops a
    text with its last holder touches one Redis Cluster slot.
    """
    return f"{prefix}:content:{{{content_hash}}}"


def content_holders_key(prefix: str, content_hash: str) -> str:
    """The set of users whose uploads carry the text (in :func:`content_key`'s slot)."""
    return f"{prefix}:content-holders:{{{content_hash}}}"


def url_versions_token_key(prefix: str) -> str:
    """A random token the URL versions a processor keeps as announced are valid under.

    Deleted by whatever deletes URL-version markers (an erasure, ``mindhit recover``):
    :mod:`processors.announced`.
    """
    return f"{prefix}:urlver-token"


def quarantine_key(prefix: str) -> str:
    """The bounded stream of rejected events (a plain stream, not a topic: XDEL is fine)."""
    return f"{prefix}:quarantine"


def sessions_key(prefix: str, partition: int) -> str:
    """The hash ``session_id -> user_id`` of the sessions whose owner is in ``partition``.

    Named ``session-owners``: ``:sessions`` would be the stream key of the sessions topic.
    """
    return f"{prefix}:{partition_tag(partition)}:session-owners"
