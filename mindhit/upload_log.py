"""Idempotent, atomic appends of uploads to the raw topic (the gateway and session_log).

Every upload is an entry of its user's raw partition (or part of one: the gateway
coalesces), appended by one Lua script (``lua/append_uploads.lua``) that checks the
partition's log epoch, looks each upload's batch id up in its client's idempotency
state and appends with ``XADD 0-*`` (dense offsets, see :mod:`mindhit.streams`).

Idempotency state is bounded per client, not per upload: one string per
(user, client) holding the client's last :data:`RECENT_BATCHES` batch ids with the
entry each went to, expiring ``MINDHIT_BATCH_DEDUPE_SECONDS`` after the client's last
upload. Its key names the user, so one user's ids never meet another's, and it
shares the partition's hash tag, so the script runs on Redis Cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from hashlib import sha1
from importlib import resources
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from mindhit.log_epoch import epoch_key, new_epoch
from mindhit.redis_client import is_cluster
from mindhit.settings import Settings
from mindhit.slot_pipeline import run_on_slot_node
from mindhit.streams import offset_of
from schema.topics import RAW_TOPIC, partition_tag, stream_key

__all__ = [
    "ANY_EPOCH",
    "RECENT_BATCHES",
    "AppendOutcome",
    "AppendPolicy",
    "LogEpochError",
    "PendingAppend",
    "RawPartition",
    "ReplicationTimeoutError",
    "UploadId",
    "append_many",
    "append_uploads",
    "idempotency_key",
    "remember_batch",
]

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

    prefix: str
    number: int
    stream: str
    epoch: str

    @classmethod
    def of(cls, prefix: str, partition: int) -> RawPartition:
        """The keys of raw partition ``partition`` under ``prefix``."""
        stream = stream_key(prefix, RAW_TOPIC, partition)
        return cls(prefix, partition, stream, epoch_key(prefix, partition))

    def state_key(self, upload: UploadId) -> str:
        """The idempotency state of ``upload``'s (user, client) in this partition."""
        return idempotency_key(self.prefix, self.number, upload.user_id, upload.client_id)


class UploadId(msgspec.Struct, frozen=True):
    """What makes two uploads the same: the user, their client and the batch id."""

    user_id: str
    client_id: str
    batch_id: str
    """A lower-case UUID (the API refuses anything else)."""


class AppendOutcome(msgspec.Struct, frozen=True):
    """What :func:`append_uploads` did.

    Either ``offset`` is the new entry's offset (``None`` for :func:`remember_batch`)
    and ``duplicates`` is empty, or nothing was written and ``duplicates`` lists the
    (0-based) uploads already recorded, each with the offset of the entry that holds
    it (``None``: it was remembered without an entry).
    """

    offset: int | None
    duplicates: tuple[tuple[int, int | None], ...] = ()


RECENT_BATCHES = 8
"""Batches remembered per (user, client): a retry of any of a client's last 8 is a duplicate.

The extension keeps one batch in flight and sends the next only once it is acknowledged,
so a retry is always of the client's last batch; 8 leaves room for clients that send a
few at once, and for a retry that arrives late, after newer batches."""


def idempotency_key(prefix: str, partition: int, user_id: str, client_id: str) -> str:
    """The key of ``user_id``'s ``client_id``'s recent batches (in the partition's slot)."""
    return f"{prefix}:{partition_tag(partition)}:idem:{user_id}:{client_id}"


async def remember_batch(
    redis: aioredis.Redis,
    prefix: str,
    partition: int,
    upload: UploadId,
    policy: AppendPolicy,
) -> bool:
    """Record a batch that put nothing in the log (all its events refused); False if seen.

    Uses the client's idempotency state, so a retry is recognised like one of an
    appended batch.
    """
    target = RawPartition.of(prefix, partition)
    outcome = await _run_script(redis, target, [upload], None, "", policy)
    return not outcome.duplicates


class AppendPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How appends of uploads are deduplicated and made durable (from the settings)."""

    dedupe_ttl_s: int
    """How long a client's recent batch ids are remembered after its last upload
    (``MINDHIT_BATCH_DEDUPE_SECONDS``)."""
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
    uploads: Sequence[UploadId],
    timestamp_ms: int,
    policy: AppendPolicy,
) -> AppendOutcome:
    """Append one entry unless one of its uploads is already recorded.

    Steps, all inside one Lua script (atomic, all keys in the stream's hash slot):
    check the partition's log epoch is ``epoch`` (:data:`ANY_EPOCH`: any, created
    when missing), else write nothing and raise :class:`LogEpochError`;
    look every upload's batch id up in its (user, client) idempotency state; if any is
    there, append nothing, set those states again (a write replicated after the first
    attempt's entry, and a fresh TTL) and report those uploads with their entries;
    otherwise ``XADD stream 0-*`` the entry and add each upload to its client's state
    (the last :data:`RECENT_BATCHES` kept, with the policy's TTL). Then, when
    ``policy.wait_replicas`` > 0, ``WAIT`` on the same connection — for duplicates too,
    so a retry whose first attempt was never replicated is not acknowledged before it
    is — and raise :class:`ReplicationTimeoutError` if too few replicas acknowledged
    (the entry stays; a retry is then reported as a duplicate once it is replicated).

    Raises:
        LogEpochError: the log was lost (see :mod:`mindhit.log_epoch`); nothing written.
        redis.exceptions.ConnectionError, TimeoutError: Redis unreachable (nothing
            or everything was written; a retry finds out which).
        redis.exceptions.ResponseError: e.g. OOM; the script did not run at all.
    """
    return await _run_script(client, target, uploads, (value, timestamp_ms), epoch, policy)


async def _run_script(
    client: aioredis.Redis,
    target: RawPartition,
    uploads: Sequence[UploadId],
    entry: tuple[bytes, int] | None,
    epoch: str,
    policy: AppendPolicy,
) -> AppendOutcome:
    """Run ``append_uploads.lua``: append ``entry`` (value, timestamp), or with ``None``
    only remember the uploads; then WAIT as the policy says."""
    keys, args = _script_call(target, uploads, entry, epoch, policy)
    reply, acked = await _run_call(client, keys, args, policy)
    return _outcome(target, epoch, reply, acked, policy)


def _script_call(
    target: RawPartition,
    uploads: Sequence[UploadId],
    entry: tuple[bytes, int] | None,
    epoch: str,
    policy: AppendPolicy,
) -> tuple[list[str], list[bytes | str | int]]:
    """The keys and arguments of one ``append_uploads.lua`` call (see the script)."""
    states: dict[str, int] = {}
    pairs: list[bytes | str | int] = []
    for upload in uploads:
        index = states.setdefault(target.state_key(upload), len(states) + 3)
        pairs += [index, bytes.fromhex(upload.batch_id.replace("-", ""))]
    keys = [target.stream, target.epoch, *states]
    expect = ANY_EPOCH + new_epoch() if epoch == ANY_EPOCH else epoch
    head: list[bytes | str | int] = [policy.dedupe_ttl_s, RECENT_BATCHES, expect]
    if entry is None:
        args = ["remember", *head, b"", b"", 0, b"", *pairs]
    else:  # key and headers (ARGV[5] and ARGV[8]) stay empty: raw entries carry neither.
        args = ["append", *head, b"", entry[0], entry[1], b"", *pairs]
    return keys, args


async def _run_call(
    client: aioredis.Redis,
    keys: list[str],
    args: list[bytes | str | int],
    policy: AppendPolicy,
) -> tuple[Any, int | None]:
    """One script call (then WAIT as the policy says), loading the script on NOSCRIPT."""
    wait = (policy.wait_replicas, policy.wait_timeout_ms)
    try:
        return await _run_append(client, keys, args, *wait)
    except NoScriptError:
        await client.script_load(_APPEND_UPLOADS_LUA)
        return await _run_append(client, keys, args, *wait)


def _outcome(
    target: RawPartition, epoch: str, reply: Any, acked: int | None, policy: AppendPolicy
) -> AppendOutcome:
    """What one script call's ``reply`` (and the ``WAIT`` after it) says; raises
    :class:`LogEpochError` (nothing written) or :class:`ReplicationTimeoutError`."""
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
        found_at = [int(x) for x in reply[1:]]
        return AppendOutcome(
            None,
            tuple(
                (index, seq - 1 if seq else None)
                for index, seq in zip(found_at[::2], found_at[1::2], strict=True)
            ),
        )
    return AppendOutcome(offset_of(reply[1]) if reply[1] else None)


class PendingAppend(msgspec.Struct, frozen=True, kw_only=True):
    """One entry for :func:`append_many`: what :func:`append_uploads` takes."""

    target: RawPartition
    value: bytes
    epoch: str
    uploads: list[UploadId]
    timestamp_ms: int


async def append_many(
    client: aioredis.Redis, appends: Sequence[PendingAppend], policy: AppendPolicy
) -> list[AppendOutcome | Exception]:
    """:func:`append_uploads` for entries of several partitions, in one round trip.

    Each entry is its own script call (atomic and idempotent per partition); each one's
    outcome or error (:class:`LogEpochError`, :class:`ReplicationTimeoutError`, OOM, ...)
    is returned in its place: one partition's failure fails no other's. Steps on a
    standalone Redis: (1) one pipeline on one connection: every call, then ``WAIT`` when
    ``policy.wait_replicas`` > 0 (on that connection it covers every call's writes);
    (2) calls refused with ``NOSCRIPT`` (they did not run): load the script, step 1 again
    for those. A connection lost meanwhile fails every entry (written or not: a retry
    finds out which). On Redis Cluster the partitions live on different nodes: each entry
    runs as :func:`append_uploads` runs it (``WAIT`` on the node that ran it, following
    redirects), all at once.
    """
    calls = [
        _script_call(a.target, a.uploads, (a.value, a.timestamp_ms), a.epoch, policy)
        for a in appends
    ]
    replies: list[tuple[Any, int | None] | BaseException]
    if is_cluster(client):
        replies = await asyncio.gather(
            *(_run_call(client, keys, args, policy) for keys, args in calls),
            return_exceptions=True,
        )
    else:
        replies = await _pipelined(client, calls, policy)
    outcomes: list[AppendOutcome | Exception] = []
    for append, reply in zip(appends, replies, strict=True):
        if isinstance(reply, BaseException):
            if not isinstance(reply, Exception):
                raise reply
            outcomes.append(reply)
            continue
        try:
            outcomes.append(_outcome(append.target, append.epoch, *reply, policy))
        except (LogEpochError, ReplicationTimeoutError) as exc:
            outcomes.append(exc)
    return outcomes


async def _pipelined(
    client: aioredis.Redis,
    calls: list[tuple[list[str], list[bytes | str | int]]],
    policy: AppendPolicy,
) -> list[tuple[Any, int | None] | BaseException]:
    """Steps 1 and 2 of :func:`append_many` on a standalone Redis."""
    results: list[tuple[Any, int | None] | BaseException] = [RuntimeError("unsent")] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for index in pending:
            keys, args = calls[index]
            pipe.execute_command("EVALSHA", _APPEND_UPLOADS_SHA, len(keys), *keys, *args)
        if policy.wait_replicas > 0:
            pipe.execute_command("WAIT", policy.wait_replicas, policy.wait_timeout_ms)
        acked: int | None = None
        try:
            replies = await pipe.execute(raise_on_error=False)
            if policy.wait_replicas > 0:
                acked = int(_raised(replies.pop()))
        except Exception as exc:  # the connection (or WAIT) failed: so do all of them
            for index in pending:
                results[index] = exc
            return results
        unloaded: list[int] = []
        for index, reply in zip(pending, replies, strict=True):
            if isinstance(reply, NoScriptError) and not attempt:
                unloaded.append(index)
            else:
                results[index] = reply if isinstance(reply, Exception) else (reply, acked)
        if not unloaded:
            break
        await client.script_load(_APPEND_UPLOADS_LUA)
        pending = unloaded
    return results


def _raised(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


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
    script = ("EVALSHA", _APPEND_UPLOADS_SHA, len(keys), *keys, *args)
    wait = ("WAIT", wait_replicas, wait_timeout_ms)
    if is_cluster(client):
        # WAIT names no key: it must go to the node that ran the script, on its
        # connection, wherever redirects during a resharding send the script.
        reply, acked = await run_on_slot_node(cast(RedisCluster, client), keys[0], [script, wait])
        return reply, int(_raised(acked))
    pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the script's writes
    pipe.execute_command(*script)
    pipe.execute_command(*wait)
    reply, acked = await pipe.execute()
    return reply, int(acked)
