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

__all__ = ["Emit", "Enqueue", "emit_derived", "enqueue_derived", "in_order"]

Emit = Callable[[str, int, bytes], Awaitable[None]]
"""Append one encoded entry to ``(topic, partition)`` and wait until it is stored."""
Enqueue = Callable[[str, int, bytes], Awaitable[Awaitable[object]]]
"""Queue one encoded entry for ``(topic, partition)`` behind every entry queued before it
(they are stored in that order) and return what to await until it is stored: the
worker's producer queues and writes what is queued in one pipelined round trip."""


def in_order(emit: Emit) -> Enqueue:
    """An :data:`Enqueue` from an ``emit`` that cannot queue: each entry is stored
    before the next is queued (one round trip each; tests, re-derivation)."""

    async def enqueue(topic: str, partition: int, value: bytes) -> Awaitable[object]:
        await emit(topic, partition, value)
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    return enqueue


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


async def enqueue_derived(
    enqueue: Enqueue, partition: int, entries: Sequence[tuple[Sequence[DerivedBase], int, int]]
) -> None:
    """Send the derived events of several input entries, in their order, and wait until stored.

    ``entries`` holds ``(derived, origin, received_at)`` per input entry; each gives one
    :class:`DerivedEntry` per topic (as :func:`emit_derived`), all to ``partition``.
    Steps: 1. queue every entry in input order (a topic's entries stay in that order);
    2. wait until every one is stored (the producer writes them in one round trip).
    """
    stored: list[Awaitable[object]] = []
    for derived, origin, received_at in entries:
        by_topic: dict[str, list[DerivedBase]] = {}
        for event in derived:
            by_topic.setdefault(topic_for(event), []).append(event)
        for topic, events in by_topic.items():
            entry = DerivedEntry(events=events, origin=origin, received_at=received_at)  # type: ignore[arg-type]
            stored.append(await enqueue(topic, partition, encode_derived_entry(entry)))
    if stored:
        await asyncio.gather(*stored)
