"""Pipeline health figures for the dashboard: lag per consumer/topic/partition, dead letters.

Lag comes from :mod:`mindhit.lag` (highwater minus each Faust group's committed offset and
each projection's checkpoint, per partition); dead letters from :mod:`mindhit.dlq`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import dlq
from mindhit.clock import Clock
from mindhit.groups import GroupView, read_groups
from mindhit.lag import collect_lag
from mindhit.settings import Settings
from schema.topics import partition_for
from web import store
from web.models import DeadLetterItem, LagRow, UserHealth

__all__ = [
    "BEHIND_ENTRIES",
    "OVERVIEW_TOPIC",
    "ai_status",
    "dead_letters",
    "lag_rows",
    "lag_with_problems",
    "pivot_lag",
    "retry_dead_letter",
    "user_health",
    "worker_groups",
]

#: The ops page's line for the overview's rollups behind ``page_visits`` (pending visit
#: changes; one figure, shown under partition 0; not a partition's lag).
OVERVIEW_TOPIC = "overview_changes"
#: More unprocessed entries than this on the user's partition counts as "behind".
BEHIND_ENTRIES = 1000


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
    """Lag of every Faust group and projection on every partition it reads."""
    return (await lag_with_problems(conn, redis, settings))[0]


async def lag_with_problems(
    conn: psycopg.AsyncConnection[Any], redis: aioredis.Redis, settings: Settings
) -> tuple[list[LagRow], list[str]]:
    """Lag rows, and why the log no longer backs some checkpoints (empty when it does).

    A Redis that lost its data shows lag 0 everywhere; the reasons say it is lost.
    """
    report = await collect_lag(redis, settings.key_prefix, settings.partitions, conn)
    rows = [
        LagRow(
            consumer=f"{consumer.kind}:{consumer.name}",
            topic=row.topic,
            partition=row.partition,
            lag=row.lag,
        )
        for consumer in report.consumers
        for row in consumer.partitions
    ]
    if report.overview is not None:  # the rollups behind page_visits (one figure)
        rows.append(
            LagRow(
                consumer="projection:overview",
                topic=OVERVIEW_TOPIC,
                partition=0,
                lag=report.overview.pending_changes,
            )
        )
    return rows, [problem.reason for problem in report.problems]


async def worker_groups(redis: aioredis.Redis, settings: Settings) -> list[GroupView]:
    """Each Faust group's and the projector's generation, live members and partitions."""
    return await read_groups(redis, settings.key_prefix)


async def user_health(
    conn: psycopg.AsyncConnection[Any],
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
) -> UserHealth:
    """When the user's last event arrived and whether their partition is behind.

    The partition is shared with other users, so its lag is shown only once it is behind
    (more than :data:`BEHIND_ENTRIES`, the pipeline's state): below that, the exact count,
    read afresh on every request, would show each upload of the others as it arrives.
    """
    last, recording, processing = await store.last_event(conn, user_id)
    partition = partition_for(user_id, settings.partitions)
    rows = await lag_rows(conn, redis, settings)
    lag = [r.lag for r in rows if r.partition == partition and r.topic != OVERVIEW_TOPIC]
    max_lag = max(lag, default=0)
    behind = max_lag > BEHIND_ENTRIES
    provider, status = ai_status(settings)
    return UserHealth(
        last_event_at=None if last is None else last.isoformat().replace("+00:00", "Z"),
        recording_sessions=recording,
        processing_sessions=processing,
        behind=behind,
        max_lag=max_lag if behind else 0,
        ai_provider=provider,
        ai_status=status,
    )


def pivot_lag(rows: list[LagRow]) -> tuple[list[int], list[tuple[str, str, list[int], int]]]:
    """Lag as a table: one line per (consumer, topic), one column per partition, a total."""
    partitions = sorted({r.partition for r in rows})
    lines: dict[tuple[str, str], dict[int, int]] = {}
    for r in rows:
        lines.setdefault((r.consumer, r.topic), {})[r.partition] = r.lag
    table = [
        (consumer, topic, [cells.get(p, 0) for p in partitions], sum(cells.values()))
        for (consumer, topic), cells in sorted(lines.items())
    ]
    return partitions, table


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def dead_letters(redis: aioredis.Redis, settings: Settings) -> list[DeadLetterItem]:
    """Dead letters, newest first."""
    return [
        DeadLetterItem(
            id=view.dlq_id,
            source=f"{view.kind} · {view.source_topic}/{view.partition}",
            reason=view.error,
            at=_iso_ms(view.failed_ts),
            attempts=view.attempts,
            status=view.status,
            user_id=view.user_id,
        )
        for view in await dlq.list_dead_letters(redis, settings)
    ]


async def retry_dead_letter(
    redis: aioredis.Redis, settings: Settings, letter_id: str, *, clock: Clock
) -> bool:
    """Send one dead letter back to its source topic; ``False`` when unknown."""
    try:
        await dlq.retry_dead_letter(redis, settings, letter_id, clock=clock)
    except dlq.DeadLetterNotFound:
        return False
    return True
