"""Handing a Faust agent the entries that are ready, several at a time, acked once handled.

A backlog reaches an agent's stream many entries at a time (the consumer fetches them
in bulk), so an agent whose handler can share its Redis round trips between entries
takes every entry already waiting (up to a maximum) instead of one. It never waits for
more: when nothing else is waiting the batch is what there is (one entry when the
stream is idle), so batching adds no latency.

Acknowledgements: the stream's own acks are off; each entry of a batch is acked only
after the loop body came back for the next batch, i.e. after the handler stored its
outputs and state. A body that raises or is cancelled mid-batch (worker stopping) acks
nothing of that batch, so the committed offset never passes an entry that was not
handled; its entries are delivered again (the handlers are idempotent). Entries Faust
drops itself (a rebalance's old generation) are acked by the stream as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import EventT

__all__ = ["by_partition", "ready_batches"]


async def ready_batches(stream: faust.StreamT[Any], max_events: int) -> AsyncIterator[list[EventT]]:
    """Yield lists of up to ``max_events`` events already waiting, in stream order.

    Steps per batch: 1. take the next event (waiting for it when none is there);
    2. while fewer than ``max_events`` and another is already waiting, take it too;
    3. yield the batch; 4. once the body asks for the next batch, ack every event of
    this one (see the module docstring).
    """
    stream.enable_acks = False  # acked below, after the body handled the batch
    channel: Any = stream.channel  # the stream's own iterator: what it reads next
    batch: list[EventT] = []
    async for event in stream.events():
        batch.append(event)
        if len(batch) < max_events and not channel.empty():
            continue
        yield batch
        for done in batch:
            await stream.ack(done)
        batch = []


def by_partition(events: list[EventT]) -> dict[int, list[EventT]]:
    """``events`` grouped by partition, each group in stream order."""
    groups: dict[int, list[EventT]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups
