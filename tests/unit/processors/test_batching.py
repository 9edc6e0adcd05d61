"""The dwell agent's batches: what is waiting, up to a maximum; acked only once handled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from processors.batching import by_partition, ready_batches


def _event(offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(offset=offset, partition=offset % 2))


class FakeStream:
    """What :func:`ready_batches` uses of a Faust stream: events arriving in bursts.

    After the last burst it waits for more forever (``ends``: it ends instead), as a
    stream whose buffer a rebalance just cleared does.
    """

    def __init__(self, bursts: list[list[int]], *, ends: bool = True) -> None:
        self.enable_acks = True
        self.bursts = bursts
        self.ends = ends
        self.acked: list[int] = []

    async def events(self) -> AsyncIterator[Any]:
        for burst in self.bursts:
            await asyncio.sleep(0.01)  # the next fetch arrives
            for offset in burst:
                yield _event(offset)
        if not self.ends:
            await asyncio.Event().wait()

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        return True


def _offsets(batch: list[Any]) -> list[int]:
    return [e.message.offset for e in batch]


async def test_batches_hold_what_is_waiting_up_to_the_maximum() -> None:
    stream = FakeStream([[0, 1, 2, 3, 4], [5], [6, 7]])
    seen = []
    async with contextlib.aclosing(ready_batches(stream, 2)) as batches:  # type: ignore[arg-type]
        async for batch in batches:
            seen.append(_offsets(batch))
            assert stream.acked == [o for b in seen[:-1] for o in b]  # this batch not yet
    assert [o for b in seen for o in b] == list(range(8))
    assert all(len(b) <= 2 for b in seen) and [5] in seen  # nothing waits for more
    assert stream.acked == list(range(8)) and stream.enable_acks is False


async def test_a_batch_is_handed_over_while_the_stream_waits_for_more() -> None:
    """The agent never waits on the stream with events in hand (a rebalance would stall)."""
    stream = FakeStream([[0, 1, 2]], ends=False)
    batches = ready_batches(stream, 16)  # type: ignore[arg-type]
    assert _offsets(await asyncio.wait_for(anext(batches), 1)) == [0, 1, 2]
    pending = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.05)
    assert stream.acked == [0, 1, 2] and not pending.done()
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    await batches.aclose()


async def test_a_batch_whose_handling_fails_is_not_acked() -> None:
    stream = FakeStream([[0, 1, 2], [3, 4]])
    with pytest.raises(RuntimeError):
        async with contextlib.aclosing(ready_batches(stream, 10)) as batches:  # type: ignore[arg-type]
            async for batch in batches:
                if 3 in _offsets(batch):
                    raise RuntimeError("worker stopping mid-batch")
    assert stream.acked == [0, 1, 2]


async def test_a_failing_stream_fails_the_agent() -> None:
    class Broken(FakeStream):
        async def events(self) -> AsyncIterator[Any]:
            yield _event(0)
            raise ConnectionError("stream broke")

    stream = Broken([])
    with pytest.raises(ConnectionError):
        async with contextlib.aclosing(ready_batches(stream, 4)) as batches:  # type: ignore[arg-type]
            async for _batch in batches:
                pass
    assert stream.acked == [0]


def test_by_partition_keeps_each_partitions_order() -> None:
    groups = by_partition([_event(o) for o in range(5)])
    assert {p: _offsets(es) for p, es in groups.items()} == {0: [0, 2, 4], 1: [1, 3]}
