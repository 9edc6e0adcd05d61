"""Dead letters: failed AI work, listed and retried (shared by the CLI and the ops page).

When an enrichment or a mind map fails, the processors append a
:class:`schema.derived.DeadLettered` record to the ``deadletters`` topic
(``<prefix>:{p<N>}:deadletters``). It carries the work item exactly as it was
consumed (an encoded :class:`schema.log.DerivedEntry`), the error and where it
came from. This module is the one reader of that topic:

* :func:`list_dead_letters` — newest first, each with its status (``pending`` or
  ``retried`` and when); used by ``mindhit dlq list`` and the web ops page;
* :func:`retry_dead_letter` — re-enqueues the work: appends the stored entry to
  its source topic partition (through :mod:`mindhit.streams`, dense IDs), where
  the processors pick it up again exactly like new work, then records the retry
  in the hash ``<prefix>:dlq:retried`` (dlq_id → Unix ms). A retry that fails
  again produces a new dead letter with the new error;
* :func:`erase_user_letters` — erasure: deletes a user's dead letters (their work
  items hold page text) from every partition and forgets their retries, so no retry
  can bring erased work back.

Only ``schema`` and ``mindhit`` are imported, so the dashboard may use it too.
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.clock import Clock
from mindhit.settings import Settings
from schema.derived import DeadLettered
from schema.log import (
    FIELD_TIMESTAMP,
    FIELD_VALUE,
    DerivedEntry,
    LogEntryError,
    decode_derived_entry,
    encode_derived_entry,
)
from schema.topics import DEADLETTERS_TOPIC, stream_key

__all__ = [
    "DeadLetterNotFound",
    "DeadLetterView",
    "erase_user_letters",
    "list_dead_letters",
    "retried_key",
    "retry_dead_letter",
]


class DeadLetterNotFound(LookupError):
    """No dead letter has this id (or it is not the given user's)."""


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter as shown to an operator."""

    dlq_id: str
    kind: str
    key: str
    user_id: str
    error: str
    failed_ts: int
    source_topic: str
    partition: int
    attempts: int
    status: str
    retried_ts: int = 0


def retried_key(prefix: str) -> str:
    """The hash recording retried dead letters (dlq_id → Unix ms of the retry)."""
    return f"{prefix}:dlq:retried"


async def _records(client: aioredis.Redis, settings: Settings) -> list[DeadLettered]:
    found: list[DeadLettered] = []
    for partition in range(settings.partitions):
        entries: Any = await client.xrange(
            stream_key(settings.key_prefix, DEADLETTERS_TOPIC, partition)
        )
        for _entry_id, fields in entries:
            try:
                entry = decode_derived_entry(fields[FIELD_VALUE])
            except (LogEntryError, KeyError):
                continue
            found.extend(e for e in entry.events if isinstance(e, DeadLettered))
    return found


def _view(record: DeadLettered, retried: dict[bytes, bytes]) -> DeadLetterView:
    when = retried.get(record.dlq_id.encode())
    return DeadLetterView(
        dlq_id=record.dlq_id,
        kind=record.kind,
        key=record.key,
        user_id=record.user_id,
        error=record.error,
        failed_ts=record.failed_ts,
        source_topic=record.source_topic,
        partition=record.partition,
        attempts=record.attempts,
        status="retried" if when else "pending",
        retried_ts=int(when) if when else 0,
    )


async def list_dead_letters(
    client: aioredis.Redis,
    settings: Settings,
    *,
    user_id: str | None = None,
    pending_only: bool = False,
    limit: int = 100,
) -> list[DeadLetterView]:
    """Dead letters, newest first (optionally one user's, or only those not retried)."""
    records = await _records(client, settings)
    retried: Any = await client.hgetall(retried_key(settings.key_prefix))  # type: ignore[misc]
    unique = {r.dlq_id: r for r in records if user_id is None or r.user_id == user_id}
    views = [_view(r, retried) for r in unique.values()]
    if pending_only:
        views = [v for v in views if v.status == "pending"]
    views.sort(key=lambda v: (v.failed_ts, v.dlq_id), reverse=True)
    return views[:limit]


async def retry_dead_letter(
    client: aioredis.Redis,
    settings: Settings,
    dlq_id: str,
    *,
    clock: Clock,
    user_id: str | None = None,
) -> DeadLetterView:
    """Re-enqueue the work of one dead letter and return it with status ``retried``.

    Steps: 1. find the record (``DeadLetterNotFound`` if absent or another user's);
    2. append its stored entry to ``source_topic``/``partition`` via
    :func:`mindhit.streams.append`; 3. record the retry time.
    """
    for record in await _records(client, settings):
        if record.dlq_id == dlq_id and (user_id is None or record.user_id == user_id):
            break
    else:
        raise DeadLetterNotFound(dlq_id)
    now = clock()
    await streams.append(
        client,
        stream_key(settings.key_prefix, record.source_topic, record.partition),
        record.payload,
        key=b"",
        timestamp_ms=now,
    )
    await client.hset(retried_key(settings.key_prefix), dlq_id, str(now))
    return _view(record, {dlq_id.encode(): str(now).encode()})


async def erase_user_letters(client: aioredis.Redis, settings: Settings, user_id: str) -> int:
    """Delete ``user_id``'s dead letters from every partition; return how many.

    An entry holding only their letters is deleted (``XDEL``: nothing folds this
    topic by offset, it is read whole); one that also holds other users' letters is
    replaced by an entry of the others' (appended anew, so they stay retryable).
    Their retries are forgotten from :func:`retried_key`.
    """
    removed: list[str] = []
    for partition in range(settings.partitions):
        stream = stream_key(settings.key_prefix, DEADLETTERS_TOPIC, partition)
        entries: Any = await client.xrange(stream)
        for entry_id, fields in entries:
            try:
                entry = decode_derived_entry(fields[FIELD_VALUE])
            except (LogEntryError, KeyError):
                continue
            mine = [e for e in entry.events if e.user_id == user_id]
            if not mine:
                continue
            others = [e for e in entry.events if e.user_id != user_id]
            if others:
                kept = DerivedEntry(
                    events=others, origin=entry.origin, received_at=entry.received_at
                )
                await streams.append(
                    client,
                    stream,
                    encode_derived_entry(kept),
                    key=b"",
                    timestamp_ms=int(fields.get(FIELD_TIMESTAMP, b"0")),
                )
            await client.xdel(stream, entry_id)
            removed += [e.dlq_id for e in mine if isinstance(e, DeadLettered)]
    if removed:
        await client.hdel(retried_key(settings.key_prefix), *removed)  # type: ignore[misc]
    return len(removed)
