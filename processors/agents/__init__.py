"""The agents' work, one module per input topic; each is decode → fold → emit.

The Faust agents in :mod:`processors.app` are thin loops that hand every message
to these handlers together with an ``emit`` function; the handlers never touch
Faust, so tests and the bench drive them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from schema.derived import DerivedBase
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import topic_for

__all__ = ["Emit", "emit_derived"]

Emit = Callable[[str, int, bytes], Awaitable[None]]
"""Append one encoded entry to ``(topic, partition)`` and wait until it is stored."""


async def emit_derived(
    emit: Emit,
    partition: int,
    derived: Sequence[DerivedBase],
    *,
    origin: int = -1,
    received_at: int = 0,
) -> None:
    """Send ``derived`` as one :class:`DerivedEntry` per topic, all to ``partition``.

    Events keep their order within each topic; the topics are written concurrently
    (they are different streams) and this returns once every entry is stored.
    ``origin`` is the raw entry they come from and ``received_at`` when the gateway
    received it (see :class:`schema.log.DerivedEntry`).
    """
    by_topic: dict[str, list[DerivedBase]] = {}
    for event in derived:
        by_topic.setdefault(topic_for(event), []).append(event)
    entries = {
        topic: DerivedEntry(events=events, origin=origin, received_at=received_at)  # type: ignore[arg-type]
        for topic, events in by_topic.items()
    }
    await asyncio.gather(
        *(emit(topic, partition, encode_derived_entry(e)) for topic, e in entries.items())
    )
