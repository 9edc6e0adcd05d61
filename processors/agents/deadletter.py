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
    source: DerivedEntry | None = None,
) -> DeadLettered:
    """The ``dead.lettered`` record keeping ``work`` and its error.

    ``work`` is kept as consumed, with the ``origin`` and ``received_at`` of ``source``
    (the entry it came in), so a retry is still known as what it was.
    """
    origin = source.origin if source is not None else -1
    received_at = source.received_at if source is not None else 0
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
            DerivedEntry(events=[work], origin=origin, received_at=received_at),  # type: ignore[list-item]
            compress=False,
        ),  # type: ignore[list-item]
    )
