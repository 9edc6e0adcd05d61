"""Coalescing uploads per partition into one log entry, only when there is company.

Real clients send a few events every few seconds; one log entry per upload would
make every consumer pay its per-message cost per upload. A fixed linger (a
producer's ``linger.ms``) pays for that with latency even when nobody else is
uploading. The coalescer adapts instead (group commit): an upload for a partition
with no write in flight is written at once (one Redis round trip); uploads that
arrive while the partition's write is in flight gather, and are written together
as one entry as soon as that write completes. So an idle gateway answers in a
round trip, and a busy one writes entries that grow with its load (arrival rate ×
write time), without a timer. At most one write per partition is in flight, so a
partition's entries are written in the order their uploads arrived. Each upload's
future resolves only after the entry holding it is written.

Idempotency stays per ``(user, client, batch_id)``: :func:`plan_flush` (pure) catches
a batch that appears twice in the same flush, and the Lua script behind the writer
catches one already in the log (:mod:`mindhit.upload_log`).
:func:`take_flush` (pure) bounds the size of one entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from schema.log import Upload

__all__ = ["AppendResult", "Coalescer", "FlushPlan", "Submission", "plan_flush", "take_flush"]


class AppendResult(msgspec.Struct, frozen=True):
    """Where an upload ended up: the entry offset, or an earlier copy (``duplicate``)."""

    duplicate: bool
    offset: int | None = None


@dataclass(eq=False)
class Submission:
    """One upload waiting for its entry."""

    upload: Upload
    weight: int
    future: asyncio.Future[AppendResult] = field(repr=False)

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two uploads the same: the user, their client and the batch id."""
        return (self.upload.user_id, self.upload.client_id, self.upload.batch_id)


@dataclass(frozen=True)
class FlushPlan:
    """The uploads to write (first of each identity) and the repeats answered from them."""

    leaders: list[Submission]
    followers: dict[int, list[Submission]]  # index in leaders -> repeats


def plan_flush(submissions: Sequence[Submission]) -> FlushPlan:
    """Keep the first upload of each ``(user_id, client_id, batch_id)``; the rest follow it."""
    leaders: list[Submission] = []
    position: dict[tuple[str, str, str], int] = {}
    followers: dict[int, list[Submission]] = {}
    for submission in submissions:
        index = position.get(submission.identity)
        if index is None:
            position[submission.identity] = len(leaders)
            leaders.append(submission)
        else:
            followers.setdefault(index, []).append(submission)
    return FlushPlan(leaders=leaders, followers=followers)


def take_flush(weights: Sequence[int], max_weight: int) -> int:
    """How many of the pending uploads (oldest first) the next entry takes.

    At least one (an upload heavier than ``max_weight`` is written alone), then as
    many more as keep the entry's weight within ``max_weight``; the rest wait for
    the next entry.
    """
    if not weights:
        return 0
    total, count = weights[0], 1
    while count < len(weights) and total + weights[count] <= max_weight:
        total += weights[count]
        count += 1
    return count


Writer = Callable[[int, list[Submission]], Awaitable[list[AppendResult]]]


class _Partition:
    __slots__ = ("pending", "scheduled", "writing")

    def __init__(self) -> None:
        self.pending: list[Submission] = []
        self.writing = False  # a write for this partition is in flight
        self.scheduled = False  # a flush is queued for this loop iteration


def _answer(plan: FlushPlan, results: list[AppendResult]) -> None:
    """Resolve each leader's future with its result and each repeat's with ``duplicate``."""
    for index, (leader, result) in enumerate(zip(plan.leaders, results, strict=True)):
        if not leader.future.done():
            leader.future.set_result(result)
        for follower in plan.followers.get(index, []):
            if not follower.future.done():
                follower.future.set_result(AppendResult(True, result.offset))


class Coalescer:
    """Writes uploads per partition at once when idle, together when busy.

    Args:
        write: writes the leaders of one flush to a partition as one entry and
            returns one result per leader (raising fails all of them).
        max_weight: most weight (events + text kilobytes) one entry takes; what
            gathered beyond it goes into the next entry, written right after.
    """

    def __init__(self, write: Writer, *, max_weight: int = 2000) -> None:
        self._write = write
        self._max_weight = max_weight
        self._partitions: dict[int, _Partition] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, partition: int, upload: Upload, weight: int) -> AppendResult:
        """Queue ``upload`` for ``partition``; return once its entry is written.

        With no write in flight for the partition, the flush starts in this loop
        iteration (``call_soon``: uploads submitted in the same iteration share
        it); otherwise the upload waits for the write in flight to complete.
        """
        loop = asyncio.get_running_loop()
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        submission = Submission(upload, weight, loop.create_future())
        state.pending.append(submission)
        if not state.writing and not state.scheduled:
            state.scheduled = True
            loop.call_soon(self._flush, partition, state)
        return await submission.future

    def _flush(self, partition: int, state: _Partition) -> None:
        state.scheduled = False
        if state.writing or not state.pending:
            return
        count = take_flush([s.weight for s in state.pending], self._max_weight)
        batch, state.pending = state.pending[:count], state.pending[count:]
        state.writing = True
        task = asyncio.get_running_loop().create_task(self._run(partition, state, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, partition: int, state: _Partition, batch: list[Submission]) -> None:
        """Write one flush, then answer its uploads.

        Steps: plan (dedupe within the flush); write the leaders as one entry;
        resolve each leader's future with its result and each repeat's with
        ``duplicate``; on failure fail them all; finally, if uploads arrived
        meanwhile, start writing them at once as the next entry.
        """
        plan = plan_flush(batch)
        try:
            results = await self._write(partition, plan.leaders)
        except BaseException as exc:
            for submission in batch:
                if not submission.future.done():
                    submission.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            _answer(plan, results)
        finally:
            state.writing = False
            self._flush(partition, state)

    async def drain(self) -> None:
        """Flush everything pending and wait for in-flight writes (at shutdown)."""
        for partition, state in list(self._partitions.items()):
            self._flush(partition, state)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
