"""Coalescing uploads per partition into one log entry (like a producer's ``linger.ms``).

Real clients send a few events every few seconds; one log entry per upload would
make every consumer pay its per-message cost per upload. The coalescer gathers
the uploads for one partition that arrive while the partition is idle for
``linger`` (or while its previous entry is being written) and writes them as one
entry. Each upload's future resolves only after the entry holding it is written.

Idempotency stays per ``(user, client, batch_id)``: :func:`plan_flush` (pure) catches
a batch that appears twice in the same flush, and the Lua script behind the writer
catches one already in the log (:mod:`mindhit.upload_log`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from schema.log import Upload

__all__ = ["AppendResult", "Coalescer", "FlushPlan", "Submission", "plan_flush"]


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


Writer = Callable[[int, list[Submission]], Awaitable[list[AppendResult]]]


class _Partition:
    __slots__ = ("first_at", "flushing", "pending", "timer", "weight")

    def __init__(self) -> None:
        self.pending: list[Submission] = []
        self.first_at = 0.0  # loop time the oldest pending upload arrived
        self.weight = 0
        self.timer: asyncio.TimerHandle | None = None
        self.flushing = False


def _answer(plan: FlushPlan, results: list[AppendResult]) -> None:
    """Resolve each leader's future with its result and each repeat's with ``duplicate``."""
    for index, (leader, result) in enumerate(zip(plan.leaders, results, strict=True)):
        if not leader.future.done():
            leader.future.set_result(result)
        for follower in plan.followers.get(index, []):
            if not follower.future.done():
                follower.future.set_result(AppendResult(True, result.offset))


class Coalescer:
    """Gathers uploads per partition and writes each group as one entry.

    Args:
        write: writes the leaders of one flush to a partition as one entry and
            returns one result per leader (raising fails all of them).
        linger_s: how long an idle partition waits for more uploads.
        max_weight: flush at once when this much (events + text kilobytes) is pending.
    """

    def __init__(self, write: Writer, *, linger_s: float, max_weight: int = 2000) -> None:
        self._write = write
        self._linger_s = max(linger_s, 0.0)
        self._max_weight = max_weight
        self._partitions: dict[int, _Partition] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, partition: int, upload: Upload, weight: int) -> AppendResult:
        """Queue ``upload`` for ``partition``; return once its entry is written."""
        loop = asyncio.get_running_loop()
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        submission = Submission(upload, weight, loop.create_future())
        if not state.pending:
            state.first_at = loop.time()
        state.pending.append(submission)
        state.weight += weight
        if not state.flushing:
            if state.weight >= self._max_weight or self._linger_s == 0:
                self._flush(partition, state)
            elif state.timer is None:
                state.timer = loop.call_later(self._linger_s, self._flush, partition, state)
        return await submission.future

    def _flush(self, partition: int, state: _Partition) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if state.flushing or not state.pending:
            return
        batch, state.pending, state.weight = state.pending, [], 0
        state.flushing = True
        task = asyncio.get_running_loop().create_task(self._run(partition, state, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, partition: int, state: _Partition, batch: list[Submission]) -> None:
        """Write one flush, then answer its uploads.

        Steps: plan (dedupe within the flush); write the leaders as one entry;
        resolve each leader's future with its result and each repeat's with
        ``duplicate``; on failure fail them all; finally schedule the next flush
        if uploads arrived meanwhile, once the oldest of them has lingered.
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
            state.flushing = False
            if state.pending:
                self._schedule(partition, state)

    def _schedule(self, partition: int, state: _Partition) -> None:
        """After a write: flush what arrived meanwhile once its oldest upload has lingered."""
        loop = asyncio.get_running_loop()
        remaining = self._linger_s - (loop.time() - state.first_at)
        if remaining <= 0 or state.weight >= self._max_weight:
            self._flush(partition, state)
        elif state.timer is None:
            state.timer = loop.call_later(remaining, self._flush, partition, state)

    async def drain(self) -> None:
        """Flush everything pending and wait for in-flight writes (at shutdown)."""
        for partition, state in list(self._partitions.items()):
            self._flush(partition, state)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
