"""The agents' work, one module per input topic; each is decode → fold → emit.

The Faust agents in :mod:`processors.app` are thin loops that hand every message
to these handlers together with an ``emit`` function; the handlers never touch
Faust, so tests and the bench drive them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from mindhit.visit_rows import as_rows
from schema.derived import DerivedBase
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import VISITS_TOPIC, topic_for

__all__ = [
    "Emit",
    "Enqueue",
    "by_topic",
    "emit_derived",
    "encode_by_topic",
    "enqueue_derived",
    "enqueue_encoded",
    "in_order",
]

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
    values = encode_by_topic(by_topic(derived), origin, received_at)
    await asyncio.gather(*(emit(topic, partition, value) for topic, value in values.items()))


def by_topic(derived: Iterable[DerivedBase]) -> dict[str, list[DerivedBase]]:
    """``derived`` grouped by topic, each topic's events in order, the topics in the order
    of their first event (the order their entries are sent in)."""
    groups: dict[str, list[DerivedBase]] = {}
    for event in derived:
        groups.setdefault(topic_for(event), []).append(event)
    return groups


def encode_by_topic(
    groups: Mapping[str, Sequence[DerivedBase]], origin: int, received_at: int
) -> dict[str, bytes]:
    """One encoded :class:`DerivedEntry` per topic of ``groups`` (see :func:`by_topic`).

    The ``visits`` topic's closed visits go as the rows of a binary COPY, one
    :class:`schema.derived.VisitRows` per run of one user's visits
    (:func:`mindhit.visit_rows.as_rows`): the projector sends their bytes into its
    staging COPY as they are instead of building and formatting a row per visit (issue
    14; every reader takes every shape the log holds: per visit, columns, rows)."""
    return {
        topic: encode_derived_entry(
            DerivedEntry(
                events=as_rows(events) if topic == VISITS_TOPIC else events,  # type: ignore[arg-type]
                origin=origin,
                received_at=received_at,
            )
        )
        for topic, events in groups.items()
    }


async def enqueue_encoded(
    enqueue: Enqueue, partition: int, values: Iterable[tuple[str, bytes]]
) -> None:
    """Queue encoded derived entries ``(topic, value)`` in this order and wait until stored.

    Steps: 1. queue every entry (a topic's entries are stored in the order queued);
    2. wait until every one is stored (the producer writes them in one round trip).
    """
    stored = [await enqueue(topic, partition, value) for topic, value in values]
    if stored:
        await asyncio.gather(*stored)


async def enqueue_derived(
    enqueue: Enqueue, partition: int, entries: Sequence[tuple[Sequence[DerivedBase], int, int]]
) -> None:
    """Send the derived events of several input entries, in their order, and wait until stored.

    ``entries`` holds ``(derived, origin, received_at)`` per input entry; each gives one
    :class:`DerivedEntry` per topic (as :func:`emit_derived`), all to ``partition``,
    queued in input order (:func:`enqueue_encoded`).
    """
    await enqueue_encoded(
        enqueue,
        partition,
        [
            item
            for derived, origin, received_at in entries
            for item in encode_by_topic(by_topic(derived), origin, received_at).items()
        ],
    )
