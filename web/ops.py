"""Pipeline health figures for the dashboard: lag per consumer/topic/partition, dead letters.

Lag is ``highwater - committed offset`` per stream partition. Projection offsets are read
from ``projection_checkpoints`` (written by the projector with its rows); processor
offsets come from :mod:`mindhit.lag` when that module is installed. Dead letters come
from :mod:`mindhit.dlq`. Both kernel modules are imported lazily so the dashboard runs
(and says what it cannot show) while they are absent.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from schema.topics import partition_for, stream_key
from web import store
from web.models import DeadLetterItem, LagRow, UserHealth

__all__ = [
    "BEHIND_ENTRIES",
    "ai_status",
    "dead_letters",
    "lag_rows",
    "retry_dead_letter",
    "user_health",
]

#: More unprocessed entries than this on the user's partition counts as "behind".
BEHIND_ENTRIES = 1000


def _kernel(name: str) -> Any | None:
    try:
        return importlib.import_module(f"mindhit.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"mindhit.{name}":
            return None
        raise


def ai_status(settings: Settings) -> tuple[str, str]:
    """The AI provider in use and a sentence about its state."""
    if settings.ai_provider == "gemini":
        if settings.gemini_api_key:
            return "gemini", f"Gemini ({settings.gemini_model}) summarizes pages and builds maps."
        return "local", "Gemini is selected but no API key is set: the offline provider is used."
    return "local", "The offline local provider summarizes pages (no data leaves this machine)."


async def lag_rows(
    conn: psycopg.AsyncConnection[Any], redis: aioredis.Redis, settings: Settings
) -> list[LagRow]:
    """Lag of every projection (from its checkpoints) and processor group (``mindhit.lag``)."""
    rows: list[LagRow] = []
    cur = await conn.execute(
        "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
        " ORDER BY projection, topic, partition"
    )
    for projection, topic, partition, next_offset in await cur.fetchall():
        high = await streams.highwater(redis, stream_key(settings.key_prefix, topic, partition))
        rows.append(
            LagRow(
                consumer=f"projection:{projection}",
                topic=topic,
                partition=int(partition),
                lag=max(0, high - int(next_offset)),
            )
        )
    lag_module = _kernel("lag")
    if lag_module is not None and hasattr(lag_module, "consumer_lag"):
        for item in await lag_module.consumer_lag(redis, settings):
            rows.append(
                LagRow(
                    consumer=str(item.group),
                    topic=str(item.topic),
                    partition=int(item.partition),
                    lag=int(item.lag),
                )
            )
    return rows


async def user_health(
    conn: psycopg.AsyncConnection[Any],
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    *,
    now: datetime,
) -> UserHealth:
    """When the user's last event arrived and whether their partition is behind."""
    last, recording, processing = await store.last_event(conn, user_id)
    partition = partition_for(user_id, settings.partitions)
    lag = [row.lag for row in await lag_rows(conn, redis, settings) if row.partition == partition]
    max_lag = max(lag, default=0)
    provider, status = ai_status(settings)
    return UserHealth(
        last_event_at=None if last is None else last.isoformat().replace("+00:00", "Z"),
        recording_sessions=recording,
        processing_sessions=processing,
        behind=max_lag > BEHIND_ENTRIES,
        max_lag=max_lag,
        ai_provider=provider,
        ai_status=status,
    )


async def dead_letters(redis: aioredis.Redis, settings: Settings) -> list[DeadLetterItem] | None:
    """Dead letters, newest first; ``None`` when the dead-letter module is not installed."""
    dlq = _kernel("dlq")
    if dlq is None or not hasattr(dlq, "list_dead_letters"):
        return None
    items = await dlq.list_dead_letters(redis, settings)
    return [
        DeadLetterItem(
            id=str(item.id),
            source=str(getattr(item, "source", "")),
            reason=str(getattr(item, "reason", "")),
            at=str(getattr(item, "at", "")),
            attempts=int(getattr(item, "attempts", 0)),
        )
        for item in items
    ]


async def retry_dead_letter(redis: aioredis.Redis, settings: Settings, letter_id: str) -> bool:
    """Send one dead letter back for another attempt; ``False`` when unknown."""
    dlq = _kernel("dlq")
    if dlq is None or not hasattr(dlq, "retry_dead_letter"):
        return False
    return bool(await dlq.retry_dead_letter(redis, settings, letter_id))
