"""Handing a Faust agent the entries that are ready, several at a time, acked once handled.

A backlog reaches an agent's stream many entries at a time (the consumer fetches them
in bulk), so an agent whose handler can share its Redis round trips between entries
takes every entry already waiting (up to a maximum) instead of one. It never waits for
more: when nothing else is waiting the batch is what there is (one entry when the
stream is idle), so batching adds no latency.

How: a feeder task moves the stream's events into a small queue of its own (at most
``max_events``); the agent takes the first waiting event, then whatever else is already
in that queue. The agent never waits on the stream while it holds events: a rebalance
clears Faust's buffers and then waits for every event taken from them to be acked, so
an agent blocked on the stream with unacked events in hand would stall it for good.

Acknowledgements: the stream's own acks are off; each event of a batch is acked only
after the loop body came back for the next batch, i.e. after the handler stored its
outputs and state. A body that raises or is cancelled mid-batch (worker stopping) acks
nothing of that batch, so the committed offset never passes an entry that was not
handled; its entries are delivered again (the handlers are idempotent). Events Faust
drops itself (flow control suspended, an old generation) are acked by the stream.
Use it under ``contextlib.aclosing`` so the feeder stops with the agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import faust
from faust.types import EventT

__all__ = ["by_partition", "ready_batches"]


async def _feed(stream: faust.StreamT[Any], waiting: asyncio.Queue[EventT]) -> None:
    """Move the stream's events into ``waiting`` (blocking while it is full)."""
    async for event in stream.events():
        await waiting.put(event)


async def _first(waiting: asyncio.Queue[EventT], feeder: asyncio.Task[None]) -> EventT | None:
    """The next waiting event; None once the stream ended (a feeder error is raised)."""
    if waiting.empty():
        getter = asyncio.ensure_future(waiting.get())
        try:
            await asyncio.wait({getter, feeder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        feeder.result()  # raises what ended the feeder
        return None
    return waiting.get_nowait()


async def ready_batches(
    stream: faust.StreamT[Any], max_events: int
) -> AsyncGenerator[list[EventT], None]:
    """Yield lists of up to ``max_events`` events already waiting, in stream order.

    Steps per batch: 1. take the next event (waiting for it while holding none);
    2. take every other event already waiting, up to ``max_events``; 3. yield the batch;
    4. once the body asks for the next batch, ack every event of this one (see the
    module docstring).
    """
    stream.enable_acks = False  # acked below, after the body handled the batch
    waiting: asyncio.Queue[EventT] = asyncio.Queue(maxsize=max_events)
    feeder = asyncio.ensure_future(_feed(stream, waiting))
    try:
        while (first := await _first(waiting, feeder)) is not None:
            batch = [first]
            while len(batch) < max_events and not waiting.empty():
                batch.append(waiting.get_nowait())
            yield batch
            for done in batch:
                await stream.ack(done)
    finally:
        feeder.cancel()


def by_partition(events: list[EventT]) -> dict[int, list[EventT]]:
    """``events`` grouped by partition, each group in stream order."""
    groups: dict[int, list[EventT]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups
