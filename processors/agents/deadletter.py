"""Building dead-letter records for failed AI work (pure)."""

from __future__ import annotations

from schema.derived import DeadLettered, DerivedBase
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry

__all__ = ["dead_letter"]

MAX_ERROR = 1_000


def dead_letter(
    work: DerivedBase,
    *,
    kind: str,
    key: str,
    error: str,
    source_topic: str,
    partition: int,
    now_ms: int,
    origin: int = -1,
) -> DeadLettered:
    """The ``dead.lettered`` record keeping ``work`` (as consumed, origin kept) and its error."""
    return DeadLettered(
        user_id=work.user_id,
        dlq_id=deterministic_id("dlq", kind, key, now_ms),
        kind=kind,  # type: ignore[arg-type]
        key=key,
        error=" ".join(error.split())[:MAX_ERROR] or "unknown error",
        failed_ts=now_ms,
        source_topic=source_topic,
        partition=partition,
        payload=encode_derived_entry(
            DerivedEntry(events=[work], origin=origin),  # type: ignore[list-item]
            compress=False,
        ),  # type: ignore[list-item]
    )
