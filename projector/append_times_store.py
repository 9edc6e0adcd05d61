"""The trimmer's append-time notes in Redis, so a restarted projector trims by age at once.

One small hash per partition, in the partition's hash slot (``{pN}``, beside its
streams):

``<prefix>:{p<N>}:append-times``  hash topic → the stream's notes,
                                  :func:`projector.append_times.encode_notes`

Bounded: a field per archived topic, each holding at most about 2 × window / spacing
notes (spacing = window / :data:`NOTES_PER_WINDOW`: ~24 notes, ~0.4 KB). Written by
every trimmer run for the partitions it trims (one pipelined round trip), read once
when the projector starts. A replica paused past its lease may still write its older
notes of a partition it lost: every note is a true observation, so whichever is kept
only decides how much can be trimmed, never that a young entry goes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.append_times import AppendTimes, decode_notes, encode_notes
from projector.projections import ARCHIVED_TOPICS, stream_ids
from schema.topics import partition_tag

__all__ = ["NOTES_PER_WINDOW", "append_times_key", "load_append_times", "save_append_times"]

NOTES_PER_WINDOW = 10
"""The spacing of kept notes is the retention window / this (at least 1 s): an entry is
kept at most a tenth of the window longer than with every note."""


def append_times_key(prefix: str, partition: int) -> str:
    """The hash of partition ``partition``'s notes."""
    return f"{prefix}:{partition_tag(partition)}:append-times"


def spacing_ms(settings: Settings) -> int:
    """How far apart the kept notes are (an entry stays at most this much past the window)."""
    return max(1_000, round(settings.stream_retention_s * 1000 / NOTES_PER_WINDOW))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def load_append_times(redis: aioredis.Redis, settings: Settings) -> AppendTimes:
    """Notes saved by earlier runs (none for a stream never saved), spaced for ``settings``."""
    times = AppendTimes(spacing_ms(settings))
    ids = stream_ids(settings, ARCHIVED_TOPICS)
    pipe = redis.pipeline(transaction=False)
    for partition in range(settings.partitions):
        pipe.hgetall(append_times_key(settings.key_prefix, partition))
    saved: list[Mapping[Any, Any]] = await pipe.execute()
    for stream, (topic, partition) in ids.items():
        fields = {_text(k): v for k, v in saved[partition].items()}
        if topic in fields:
            times.restore(stream, decode_notes(fields[topic]))
    return times


async def save_append_times(
    redis: aioredis.Redis,
    settings: Settings,
    times: AppendTimes,
    *,
    partitions: Collection[int] | None = None,
) -> None:
    """Write the archived streams' notes into their partitions' hashes (one round trip):
    those of ``partitions`` (a replica's, the ones it trims), else of every partition."""
    per_partition: dict[int, dict[str, bytes]] = {}
    for stream, (topic, partition) in stream_ids(settings, ARCHIVED_TOPICS).items():
        if partitions is not None and partition not in partitions:
            continue
        per_partition.setdefault(partition, {})[topic] = encode_notes(times.notes(stream))
    pipe = redis.pipeline(transaction=False)
    for partition, fields in sorted(per_partition.items()):
        pipe.hset(append_times_key(settings.key_prefix, partition), mapping=fields)  # type: ignore[arg-type]
    await pipe.execute()
