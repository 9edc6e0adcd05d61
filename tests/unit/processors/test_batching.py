"""The dwell agent's batches: what is waiting, up to a maximum; acked only once handled."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from processors.batching import by_partition, ready_batches


class FakeStream:
    """What :func:`ready_batches` uses of a Faust stream: events arriving in bursts."""

    def __init__(self, bursts: list[list[int]]) -> None:
        self.enable_acks = True
        self.bursts = deque(bursts)
        self.waiting: deque[Any] = deque()
        self.acked: list[int] = []
        self.channel = self

    def empty(self) -> bool:
        return not self.waiting

    async def events(self) -> AsyncIterator[Any]:
        while self.waiting or self.bursts:
            if not self.waiting:
                await asyncio.sleep(0)  # nothing waiting: the next fetch arrives
                burst = self.bursts.popleft()
                self.waiting.extend(
                    SimpleNamespace(message=SimpleNamespace(offset=o, partition=o % 2))
                    for o in burst
                )
            yield self.waiting.popleft()

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        return True


def _offsets(batch: list[Any]) -> list[int]:
    return [e.message.offset for e in batch]


async def test_batches_hold_what_is_waiting_up_to_the_maximum() -> None:
    stream = FakeStream([[0, 1, 2, 3, 4], [5], [6, 7]])
    seen = []
    async for batch in ready_batches(stream, 2):  # type: ignore[arg-type]
        seen.append(_offsets(batch))
        assert stream.acked == [o for b in seen[:-1] for o in b]  # this batch not yet
    assert seen == [[0, 1], [2, 3], [4], [5], [6, 7]]
    assert stream.enable_acks is False


async def test_a_batch_whose_handling_fails_is_not_acked() -> None:
    stream = FakeStream([[0, 1, 2], [3, 4]])
    with pytest.raises(RuntimeError):
        async for batch in ready_batches(stream, 10):  # type: ignore[arg-type]
            if 3 in _offsets(batch):
                raise RuntimeError("worker stopping mid-batch")
    assert stream.acked == [0, 1, 2]


def test_by_partition_keeps_each_partitions_order() -> None:
    events = [SimpleNamespace(message=SimpleNamespace(offset=o, partition=o % 2)) for o in range(5)]
    groups = by_partition(events)  # type: ignore[arg-type]
    assert {p: _offsets(es) for p, es in groups.items()} == {0: [0, 2, 4], 1: [1, 3]}
