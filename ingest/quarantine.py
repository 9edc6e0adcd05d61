"""The quarantine stream: rejected events, kept with their reason for inspection.

A plain, bounded stream (``XADD … MAXLEN ~ quarantine_maxlen``), not a topic: no
consumer folds it, operators read it (``XREVRANGE <prefix>:quarantine + - COUNT 10``).
Incognito events are recorded without their content, which is never kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from ingest.validation import RejectedEvent
from mindhit.streams import quarantine_key

__all__ = ["quarantine_key", "write_quarantine"]


async def write_quarantine(
    redis: aioredis.Redis,
    *,
    prefix: str,
    maxlen: int,
    batch_id: str,
    user_id: str,
    client_id: str,
    received_at: int,
    rejected: Sequence[RejectedEvent],
) -> None:
    """Append one quarantine entry per rejected event (one pipelined round trip)."""
    if not rejected:
        return
    key = quarantine_key(prefix)
    pipe = redis.pipeline(transaction=False)
    for item in rejected:
        fields: dict[str, str | bytes | int] = {
            "batch_id": batch_id,
            "user_id": user_id,
            "client_id": client_id,
            "received_at": received_at,
            "index": item.rejection.index,
            "field": item.rejection.field,
            "reason": item.rejection.reason,
            "event": item.raw if item.raw is not None else b"",
        }
        pipe.xadd(key, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
    await pipe.execute()
