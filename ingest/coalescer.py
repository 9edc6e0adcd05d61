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

On one Redis server, partitions ready at the same time share one round trip (a *round*:
an entry per partition, see :class:`Coalescer`), and a round that completes starts the next
at once, without a loop iteration in between: on a busy event loop every iteration
an upload waits for costs it a whole iteration's work (tens of ms on a loaded box).

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


Writer = Callable[
    [dict[int, list[Submission]]], Awaitable[dict[int, list[AppendResult] | Exception]]
]
"""Writes one round: each partition's leaders as one entry of that partition, all in
one round trip; returns per partition one result per leader, or the error that failed
that partition's entry (raising fails the whole round)."""


class _Partition:
    __slots__ = ("pending", "writing")

    def __init__(self) -> None:
        self.pending: list[Submission] = []
        self.writing = False  # this partition's entry is in a round in flight


def _answer(plan: FlushPlan, results: list[AppendResult]) -> None:
    """Resolve each leader's future with its result and each repeat's with ``duplicate``."""
    for index, (leader, result) in enumerate(zip(plan.leaders, results, strict=True)):
        if not leader.future.done():
            leader.future.set_result(result)
        for follower in plan.followers.get(index, []):
            if not follower.future.done():
                follower.future.set_result(AppendResult(True, result.offset))


def _fail(batch: list[Submission], exc: BaseException) -> None:
    for submission in batch:
        if not submission.future.done():
            submission.future.set_exception(exc)


class Coalescer:
    """Writes uploads per partition at once when idle, together when busy.

    Writes go in *rounds*: one round trip that carries an entry for every partition
    with uploads waiting and no entry in flight, so partitions ready at the same time
    share it (at ~2 uploads per entry the round trip's Python and system calls were
    most of an entry's CPU).

    Args:
        write: writes one round (see :data:`Writer`).
        max_weight: most weight (events + text kilobytes) one entry takes; what
            gathered beyond it goes into the partition's next entry, written right after.
        one_round: at most one round in flight for all partitions: uploads of any
            partition arriving meanwhile wait for it and share the next (more
            company per entry and per round trip). For one Redis server, where every
            partition waits for the same server anyway. Without it (Redis Cluster)
            partitions stay independent: one partition's entry in flight, e.g. on a
            node that is failing over, holds no other partition's (partitions taken
            together are written and answered each on its own).
        gives_up: which errors of an entry also fail, at once, the uploads that
            gathered behind it (of its partition; with ``one_round``, of every
            partition): a Redis node that stopped answering fails an entry only at the
            client's bound, and writing them next would wait that long again, so an
            upload waited up to twice the bound. They were not acknowledged: the
            client sends them again.
    """

    def __init__(
        self,
        write: Writer,
        *,
        max_weight: int = 2000,
        one_round: bool = False,
        gives_up: Callable[[BaseException], bool] = lambda error: False,
    ) -> None:
        self._write = write
        self._max_weight = max_weight
        self._one_round = one_round
        self._gives_up = gives_up
        self._partitions: dict[int, _Partition] = {}
        self._due = False  # a round's task is created and has not started yet
        self._running = 0  # rounds' tasks created and not yet done taking rounds
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, partition: int, upload: Upload, weight: int) -> AppendResult:
        """Queue ``upload`` for ``partition``; return once its entry is written.

        With no entry in flight for the partition (with ``one_round``: no round in
        flight at all), a round starts in the next loop iteration (unless one is
        already due: uploads submitted in the same iteration, to any partition, share
        it); otherwise the upload waits for the round in flight, which writes it in its
        next round as soon as it completes.
        """
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        submission = Submission(upload, weight, asyncio.get_running_loop().create_future())
        state.pending.append(submission)
        if not self._running if self._one_round else not (state.writing or self._due):
            self._start()
        return await submission.future

    def _start(self) -> None:
        self._due = True
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._rounds())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self) -> dict[int, list[Submission]]:
        """Each idle partition's oldest pending uploads, one entry's worth (now writing)."""
        flushes: dict[int, list[Submission]] = {}
        for partition, state in self._partitions.items():
            if state.pending and not state.writing:
                count = take_flush([s.weight for s in state.pending], self._max_weight)
                flushes[partition], state.pending = state.pending[:count], state.pending[count:]
                state.writing = True
        return flushes

    async def _rounds(self) -> None:
        """Write rounds until no idle partition has uploads waiting.

        Steps, per round: take every idle partition's waiting uploads (the first
        round takes those submitted before this task ran); plan each partition's
        entry (dedupe within it); write the round (one round trip); per partition,
        resolve each leader's future with its result and each repeat's with
        ``duplicate``, or fail them all with the partition's error (the whole round
        when the writer raised); mark the partitions idle; then the next round, at
        once, with what arrived meanwhile.
        """
        self._due = False
        try:
            await self._take_rounds()
        finally:
            self._running -= 1  # at once, not in a done callback: a submit may come between

    async def _take_rounds(self) -> None:
        while flushes := self._take():
            if self._one_round or len(flushes) == 1:
                await self._round(flushes)
            else:  # each partition's entry settles on its own: a slow node holds no other
                await asyncio.gather(*(self._round({p: b}, alone=True) for p, b in flushes.items()))

    async def _round(self, flushes: dict[int, list[Submission]], *, alone: bool = False) -> None:
        """Write one round and answer its uploads; ``alone``: a partition split off a
        round, whose next entry starts at once (not when the rest of the round is done)."""
        plans = {partition: plan_flush(batch) for partition, batch in flushes.items()}
        outcomes: dict[int, list[AppendResult] | Exception]
        try:
            outcomes = await self._write(
                {partition: plan.leaders for partition, plan in plans.items()}
            )
        except BaseException as exc:
            for batch in flushes.values():
                _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            outcomes = dict.fromkeys(flushes, exc)
        finally:
            for partition in flushes:
                self._partitions[partition].writing = False
        self._fail_waiting(outcomes)
        if alone and not self._due and any(self._partitions[p].pending for p in flushes):
            self._start()
        for partition, plan in plans.items():
            outcome = outcomes[partition]
            if isinstance(outcome, Exception):
                _fail(flushes[partition], outcome)
            else:
                _answer(plan, outcome)

    def _fail_waiting(self, outcomes: dict[int, list[AppendResult] | Exception]) -> None:
        """Fail the uploads waiting behind an entry that failed so (``gives_up``)."""
        for partition, outcome in outcomes.items():
            if isinstance(outcome, Exception) and self._gives_up(outcome):
                waiting = (
                    self._partitions.values() if self._one_round else [self._partitions[partition]]
                )
                for state in waiting:
                    _fail(state.pending, outcome)
                    state.pending = []

    async def drain(self) -> None:
        """Write everything pending and wait for rounds in flight (at shutdown)."""
        if any(state.pending for state in self._partitions.values()):
            self._start()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
