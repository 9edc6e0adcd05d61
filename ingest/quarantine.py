"""The quarantine stream: rejected events, kept with their reason for inspection.

A plain stream bounded in bytes, not a topic: no consumer folds it, operators read it
(``XREVRANGE <prefix>:quarantine + - COUNT 10``). What is kept of a rejected event is
capped (:func:`excerpt`: its fields with long values cut, at most
:data:`EXCERPT_BYTES`; never a whole page text), every other field is cut too, so an
entry is at most :data:`ENTRY_BYTES` and the stream keeps at most
``quarantine_max_bytes // ENTRY_BYTES`` entries (and never more than
``quarantine_maxlen``). Incognito events are recorded without their content.

Writing the quarantine is best effort: it happens after the upload's good events
were appended, and a failure (Redis full, say) is logged and counted, never turned
into an error answer for the upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from ingest.validation import RejectedEvent
from mindhit.logs import get_logger
from mindhit.streams import quarantine_key

__all__ = [
    "ENTRY_BYTES",
    "EXCERPT_BYTES",
    "excerpt",
    "quarantine_entries",
    "quarantine_key",
    "write_quarantine",
]

EXCERPT_BYTES: Final = 512
"""Most bytes of a rejected event kept (JSON, long values cut)."""
VALUE_CHARS: Final = 80
"""Longest string value kept whole inside an excerpt."""
REASON_CHARS: Final = 200
"""Longest reason (and field path) kept."""
ENTRY_BYTES: Final = 1024
"""Upper bound of the memory one quarantine entry takes in Redis (measured ~800 B at
the caps, stream node overhead included)."""

log = get_logger("ingest")
_encoder = msgspec.json.Encoder()


def _cut(value: Any, depth: int = 0) -> Any:
    """``value`` with long strings shortened and deep or long containers summarized."""
    if isinstance(value, str):
        return value if len(value) <= VALUE_CHARS else f"{value[:VALUE_CHARS]}…({len(value)})"
    if isinstance(value, dict):
        if depth >= 2:
            return f"{{…{len(value)} keys}}"
        return {str(k)[:VALUE_CHARS]: _cut(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, list):
        if depth >= 2:
            return f"[…{len(value)} items]"
        return [_cut(v, depth + 1) for v in value[:10]]
    return value


def excerpt(raw: bytes, limit: int = EXCERPT_BYTES) -> bytes:
    """What the quarantine keeps of a rejected event: at most ``limit`` bytes.

    A JSON value has its strings cut to :data:`VALUE_CHARS` characters (with the
    original length noted), so the excerpt shows the event's shape and short fields
    but never a page's text; anything else (or a result still too long) is cut bytes.
    """
    try:
        shown = _encoder.encode(_cut(msgspec.json.decode(raw)))
    except (msgspec.DecodeError, UnicodeDecodeError):
        shown = raw
    if len(shown) <= limit:
        return shown
    return shown[: limit - 3] + b"..."


def _short(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quarantine_entries(max_bytes: int, maxlen: int) -> int:
    """How many entries the quarantine keeps: within ``max_bytes`` and ``maxlen``."""
    return max(1, min(maxlen, max_bytes // ENTRY_BYTES))


async def write_quarantine(
    redis: aioredis.Redis,
    *,
    prefix: str,
    entries: int,
    batch_id: str,
    user_id: str,
    client_id: str,
    received_at: int,
    rejected: Sequence[RejectedEvent],
) -> bool:
    """Append one capped entry per rejected event (one pipelined round trip).

    Returns False (after logging) when Redis refused the write; the caller answers
    the upload as usual.
    """
    if not rejected:
        return True
    key = quarantine_key(prefix)
    pipe = redis.pipeline(transaction=False)
    for item in rejected:
        fields: dict[str, str | bytes | int] = {
            "batch_id": _short(batch_id, 64),
            "user_id": _short(user_id, 64),
            "client_id": _short(client_id, 128),
            "received_at": received_at,
            "index": item.rejection.index,
            "field": _short(item.rejection.field),
            "reason": _short(item.rejection.reason),
            "event": excerpt(item.raw) if item.raw is not None else b"",
        }
        pipe.xadd(key, fields, maxlen=entries, approximate=True)  # type: ignore[arg-type]
    try:
        await pipe.execute()
    except redis_errors.RedisError as exc:
        log.warning("quarantine_not_written", user_id=user_id, batch_id=batch_id, error=str(exc))
        return False
    return True
