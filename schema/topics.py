"""Topics, partitions and stream keys: the one place that maps events to streams.

A topic with N partitions is N Redis streams. The streams of one partition
number share the hash tag ``{p<N>}`` across topics, so a Lua script may touch
them (and their bookkeeping keys) together on Redis Cluster. Raw events are
partitioned by ``user_id``: all of a user's devices land in one partition, so one
processor sees a user's whole story in order.
"""

from __future__ import annotations

import zlib
from typing import Final

from schema.derived import (
    DeadLettered,
    DerivedBase,
    MindmapBuilt,
    SessionClosed,
    SessionErased,
    SessionStatusChanged,
    UrlDiscovered,
    UrlEnriched,
    UserErased,
    VisitClosed,
    VisitRows,
    VisitsClosed,
)

__all__ = [
    "DEADLETTERS_TOPIC",
    "DERIVED_TOPICS",
    "RAW_TOPIC",
    "SESSIONS_TOPIC",
    "URLS_TOPIC",
    "VISITS_TOPIC",
    "partition_for",
    "partition_tag",
    "stream_key",
    "topic_for",
]

RAW_TOPIC: Final = "raw"
VISITS_TOPIC: Final = "visits"
URLS_TOPIC: Final = "urls"
SESSIONS_TOPIC: Final = "sessions"
DERIVED_TOPICS: Final = (VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC)
DEADLETTERS_TOPIC: Final = "deadletters"
"""Failed AI work (:class:`schema.derived.DeadLettered`); read by ``mindhit dlq``, not projected."""

_TOPIC_OF: dict[type[DerivedBase], str] = {
    VisitClosed: VISITS_TOPIC,
    VisitsClosed: VISITS_TOPIC,
    VisitRows: VISITS_TOPIC,
    UrlDiscovered: URLS_TOPIC,
    UrlEnriched: URLS_TOPIC,
    SessionClosed: SESSIONS_TOPIC,
    SessionStatusChanged: SESSIONS_TOPIC,
    MindmapBuilt: SESSIONS_TOPIC,
    UserErased: SESSIONS_TOPIC,
    SessionErased: SESSIONS_TOPIC,
    DeadLettered: DEADLETTERS_TOPIC,
}


def topic_for(event: DerivedBase) -> str:
    """Return the topic a derived event is written to."""
    return _TOPIC_OF[type(event)]


def partition_for(key: str | bytes, partitions: int) -> int:
    """Return the partition of ``key`` (a user id for raw events) among ``partitions``."""
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def partition_tag(partition: int) -> str:
    """Return the Redis Cluster hash tag shared by every key of ``partition``."""
    return f"{{p{partition}}}"


def stream_key(prefix: str, topic: str, partition: int) -> str:
    """Return the Redis key of one partition of ``topic``, e.g. ``mindhit:{p3}:raw``."""
    return f"{prefix}:{partition_tag(partition)}:{topic}"
