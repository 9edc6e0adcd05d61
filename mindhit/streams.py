"""The one place that appends to and reads from topic streams.

Topic partitions are Redis streams whose entry IDs are ``0-1, 0-2, …``: every
append uses ``XADD <key> 0-* …``, which Redis ≥ 7 turns into the next sequence
number atomically across concurrent producers. That gives Kafka-like dense
offsets: ``offset = sequence - 1``. A single ``XADD <key> *`` by anyone would
break a stream for good (its IDs would jump to wall-clock time), so nothing may
append to a topic stream except through this module (Python or its Lua scripts).

Field names and value encodings are defined by :mod:`schema.log`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from hashlib import sha1
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from mindhit.log_epoch import epoch_key, new_epoch
from mindhit.settings import Settings
from schema.log import FIELD_HEADERS, FIELD_KEY, FIELD_TIMESTAMP, FIELD_VALUE
from schema.topics import RAW_TOPIC, partition_tag, stream_key

__all__ = [
    "ANY_EPOCH",
    "AppendOutcome",
    "AppendPolicy",
    "LogEpochError",
    "RawPartition",
    "ReplicationTimeoutError",
    "StreamRecord",
    "append",
    "append_uploads",
    "content_key",
    "dedupe_key",
    "earliest_offset",
    "entry_id",
    "highwater",
    "offset_of",
    "quarantine_key",
    "queue_append",
    "read",
    "remember_batch",
    "sessions_key",
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


async def read(
    client: aioredis.Redis,
    positions: Mapping[str, int],
    *,
    count: int = 100,
    block_ms: int | None = None,
) -> list[StreamRecord]:
    """Read entries at or after each stream's next offset (``positions``: stream → offset)."""
    if not positions:
        return []
    # XREAD returns entries strictly after the given ID; offset N lives at 0-(N+1).
    reply: Any = await client.xread(
        {stream: f"0-{offset}" for stream, offset in positions.items()},
        count=count,
        block=block_ms,
    )
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


# --- idempotent, atomic appends of raw-log entries (the gateway and session_log) ---

_APPEND_UPLOADS_LUA = resources.files("mindhit.lua").joinpath("append_uploads.lua").read_text()
_APPEND_UPLOADS_SHA = sha1(_APPEND_UPLOADS_LUA.encode()).hexdigest()


class ReplicationTimeoutError(RuntimeError):
    """The entry was written but fewer replicas than required acknowledged it in time."""


class LogEpochError(RuntimeError):
    """The partition's log epoch is not the expected one: Redis lost the log; nothing written."""

    def __init__(self, message: str, *, partition: int) -> None:
        super().__init__(message)
        self.partition = partition


ANY_EPOCH = "*"
"""Expect any log epoch; create one when the partition has none (an appender keeping no
epoch of its own: the dashboard's session start/stop). The consumers still see a fresh
epoch under their checkpoints: it differs from the one stored with them."""


class RawPartition(msgspec.Struct, frozen=True):
    """The keys one raw-partition append touches (all in the partition's hash slot)."""

    number: int
    stream: str
    sessions: str
    epoch: str

    @classmethod
    def of(cls, prefix: str, partition: int) -> RawPartition:
        """The keys of raw partition ``partition`` under ``prefix``."""
        return cls(
            partition,
            stream_key(prefix, RAW_TOPIC, partition),
            sessions_key(prefix, partition),
            epoch_key(prefix, partition),
        )


class AppendOutcome(msgspec.Struct, frozen=True):
    """What :func:`append_uploads` did.

    Either ``offset`` is the new entry's offset and ``duplicates`` is empty, or
    nothing was written and ``duplicates`` lists (0-based) the uploads whose
    batch ids were already appended.
    """

    offset: int | None
    duplicates: tuple[int, ...] = ()


def dedupe_key(prefix: str, partition: int, user_id: str, batch_id: str) -> str:
    """The key recording that ``user_id``'s ``batch_id`` is in the log (in the partition's slot)."""
    return f"{prefix}:{partition_tag(partition)}:batch:{user_id}:{batch_id}"


async def remember_batch(
    redis: aioredis.Redis, prefix: str, partition: int, user_id: str, batch_id: str, ttl_s: int
) -> bool:
    """Record a batch that put nothing in the log (all its events refused); False if seen.

    Uses the batch's dedupe key, so a retry is recognised like one of an appended batch.
    """
    key = dedupe_key(prefix, partition, user_id, batch_id)
    return bool(await redis.set(key, b"-", nx=True, ex=ttl_s))


def content_key(prefix: str, content_hash: str) -> str:
    """The key holding one page text, stored once per content hash (written by the processors).

    The gateway checks it to keep already-known text out of the log.
    """
    return f"{prefix}:content:{content_hash}"


def quarantine_key(prefix: str) -> str:
    """The bounded stream of rejected events (a plain stream, not a topic: XDEL is fine)."""
    return f"{prefix}:quarantine"


def sessions_key(prefix: str, partition: int) -> str:
    """The hash ``session_id -> user_id`` of the sessions whose owner is in ``partition``.

    Named ``session-owners``: ``:sessions`` would be the stream key of the sessions topic.
    """
    return f"{prefix}:{partition_tag(partition)}:session-owners"


class AppendPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How appends of uploads are deduplicated and made durable (from the settings)."""

    dedupe_ttl_s: int
    """How long a batch id is remembered (``MINDHIT_BATCH_DEDUPE_SECONDS``)."""
    wait_replicas: int = 0
    """Replicas that must acknowledge an append (``MINDHIT_WAIT_REPLICAS``)."""
    wait_timeout_ms: int = 100
    """How long to wait for them (``MINDHIT_WAIT_TIMEOUT_MS``)."""

    @classmethod
    def of(cls, settings: Settings) -> AppendPolicy:
        """The policy ``settings`` configure."""
        return cls(
            dedupe_ttl_s=settings.batch_dedupe_seconds,
            wait_replicas=settings.wait_replicas,
            wait_timeout_ms=settings.wait_timeout_ms,
        )


async def append_uploads(
    client: aioredis.Redis,
    target: RawPartition,
    value: bytes,
    *,
    epoch: str,
    dedupe_keys: Sequence[str],
    claims: Sequence[tuple[str, str]] = (),
    timestamp_ms: int,
    policy: AppendPolicy,
) -> AppendOutcome:
    """Append one entry unless one of its uploads is already in the log.

    Steps, all inside one Lua script (atomic, all keys in the stream's hash slot):
    check the partition's log epoch is ``epoch`` (:data:`ANY_EPOCH`: any, created
    when missing), else write nothing and raise :class:`LogEpochError`;
    check every dedupe key; if any exists, append nothing, touch those keys (a write
    replicated after the first attempt's entry) and report those uploads; otherwise
    ``XADD stream 0-*`` the entry, set the dedupe keys (with the policy's TTL) and
    record the session claims. Then, when ``policy.wait_replicas`` > 0, ``WAIT`` on the
    same connection — for duplicates too, so a retry whose first attempt was never
    replicated is not acknowledged before it is — and raise
    :class:`ReplicationTimeoutError` if too few replicas acknowledged (the entry stays;
    a retry is then reported as a duplicate once it is replicated).

    Raises:
        LogEpochError: the log was lost (see :mod:`mindhit.log_epoch`); nothing written.
        redis.exceptions.ConnectionError, TimeoutError: Redis unreachable (nothing
            or everything was written; a retry finds out which).
        redis.exceptions.ResponseError: e.g. OOM; the script did not run at all.
    """
    keys = [target.stream, target.sessions, target.epoch, *dedupe_keys]
    # key and headers (ARGV[2] and ARGV[5]) stay empty: raw entries carry neither.
    expect = ANY_EPOCH + new_epoch() if epoch == ANY_EPOCH else epoch
    args: list[bytes | str | int] = [policy.dedupe_ttl_s, b"", value, timestamp_ms, b"", expect]
    for session_id, user_id in claims:
        args += [session_id, user_id]
    wait = (policy.wait_replicas, policy.wait_timeout_ms)
    try:
        reply, acked = await _run_append(client, keys, args, *wait)
    except NoScriptError:
        await client.script_load(_APPEND_UPLOADS_LUA)
        reply, acked = await _run_append(client, keys, args, *wait)
    if int(reply[0]) == -1:
        found = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        raise LogEpochError(
            f"log epoch of {target.stream} is {found or 'missing'}, expected {epoch}:"
            " Redis lost the log; run `mindhit recover`",
            partition=target.number,
        )
    if acked is not None and acked < policy.wait_replicas:
        raise ReplicationTimeoutError(
            f"{acked} of {policy.wait_replicas} replicas acknowledged"
            f" within {policy.wait_timeout_ms} ms"
        )
    if int(reply[0]) == 0:
        return AppendOutcome(None, tuple(int(index) for index in reply[1:]))
    return AppendOutcome(offset_of(reply[1]))


async def _run_append(
    client: aioredis.Redis,
    keys: list[str],
    args: list[bytes | str | int],
    wait_replicas: int,
    wait_timeout_ms: int,
) -> tuple[Any, int | None]:
    if wait_replicas <= 0:
        reply = await client.evalsha(_APPEND_UPLOADS_SHA, len(keys), *keys, *args)  # type: ignore[misc]
        return reply, None
    pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the script's writes
    pipe.evalsha(_APPEND_UPLOADS_SHA, len(keys), *keys, *args)
    pipe.execute_command("WAIT", wait_replicas, wait_timeout_ms)
    reply, acked = await pipe.execute()
    return reply, int(acked)
