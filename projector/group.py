"""The projector's replicas share the log's partitions like a processors worker group.

Same machinery as the Faust transport's worker groups (:mod:`mindhit.group_state`,
:mod:`mindhit.assignment`, :mod:`mindhit.leases`): each replica heartbeats into the
group ``projector``; every generation assigns each partition number (all topics'
partition N: every projection and the archiver of N) to one live replica, sticky and
balanced; a replica folds a partition only after taking its lease and claiming its
fencing token in PostgreSQL (:mod:`projector.fencing`).

Timing (``projector_lease_ms`` = T): heartbeats and lease renewals every T/3; a killed
replica drops out T after its last heartbeat, its leases have expired by then, and
the others notice within T/3, so its partitions move within about 1.3 T (bound 2 T)
plus the new owner's checkpoint load. A clean stop releases its leases and leaves at
once. Renewals go to each Redis node on their own, each waited for at most T/2, so a
node that stops answering costs only the leases on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mindhit.assignment import owned
from mindhit.group_state import Generation, GroupState
from mindhit.keys import PROJECTOR_GROUP
from mindhit.leases import Leases
from mindhit.logs import get_logger
from mindhit.redis_cluster import within
from projector.fencing import Fenced

__all__ = ["Claim", "ProjectorGroup", "Round", "run_rounds"]

log = get_logger(__name__)

Claim = Callable[[set[int]], Awaitable[dict[int, int]]]
"""Claims the fencing tokens of partitions whose leases were just taken."""


class ProjectorGroup:
    """One projector replica's membership of the group, its leases and fencing tokens.

    Args:
        client: Redis client for heartbeats and leases.
        prefix: the key prefix.
        partitions: partitions per topic.
        member: this replica's id (unique per process).
        ttl_ms: lease and heartbeat lifetime (T).
        claim: claims fencing tokens in PostgreSQL (:func:`projector.fencing.claim`).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        partitions: int,
        member: str,
        ttl_ms: int,
        claim: Claim,
    ) -> None:
        self.client = client
        self.partitions = partitions
        self.member = member
        self.ttl_ms = ttl_ms
        self.state = GroupState(prefix, PROJECTOR_GROUP, member, ttl_ms)
        self.leases = Leases(prefix, PROJECTOR_GROUP, member, ttl_ms)
        self.claim = claim
        self.generation: Generation | None = None
        self.held: set[int] = set()
        self.tokens: dict[int, int] = {}
        self.changed = asyncio.Event()
        """Set when the generation changed or a lease was lost: the folding round ends."""
        self._lock = asyncio.Lock()  # beats, takes and releases never overlap
        self._beaten_at = -float("inf")  # the event loop's time the last heartbeat was sent

    def mine(self) -> set[int]:
        """The partitions the current generation gives this replica."""
        return owned(self.generation.owners, self.member) if self.generation else set()

    async def beat(self) -> None:
        """Heartbeat and, at the same time and node by node, renew the leases held; a new
        generation or a lost lease sets :attr:`changed`.

        Each call waits at most half a lease, so a Redis node that stops answering costs
        only the leases on it (:meth:`~mindhit.leases.Leases.renew_by_node`). A replica
        whose heartbeat has failed for a whole lease renews none: the others count it
        gone and wait for its leases.

        Raises:
            redis.exceptions.RedisError: the heartbeat failed (``TimeoutError`` past the bound).
        """
        async with self._lock:
            lease_s = self.ttl_ms / 1000
            loop = asyncio.get_running_loop()
            sent = loop.time()  # no later than Redis dates the heartbeat (the group's view)
            beat, lost = await asyncio.gather(
                within(lease_s / 2, self.state.heartbeat(self.client, self.partitions), "beat"),
                self.leases.renew_by_node(self.client, self.held, limit_s=lease_s / 2)
                if loop.time() - self._beaten_at < lease_s
                else asyncio.sleep(0, set()),
                return_exceptions=True,
            )
            if isinstance(lost, set) and lost:
                log.error("projector_leases_taken_over", partitions=sorted(lost))
                self._forget(lost)
            for outcome in (lost, beat):
                if isinstance(outcome, BaseException):
                    raise outcome
            assert isinstance(beat, Generation)
            self._beaten_at = sent  # not when the renewals beside it ended (up to T/2 on)
            if self.generation is None or beat.number != self.generation.number:
                self.generation = beat
                log.info(
                    "projector_group_generation",
                    generation=beat.number,
                    members=len(beat.members),
                    partitions=sorted(self.mine()),
                )
                self.changed.set()

    async def heartbeats(self, stop: asyncio.Event) -> None:
        """Beat every third of the lease until ``stop`` (Redis errors are retried)."""
        while not stop.is_set():
            try:
                await self.beat()
            except (RedisError, RuntimeError) as exc:  # RuntimeError: membership kept changing
                log.warning("projector_heartbeat_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl_ms / 3000)

    def fenced(self, partitions: Iterable[int]) -> None:
        """A commit was fenced: forget those partitions (another replica owns them)."""
        self._forget(set(partitions))

    def _forget(self, partitions: set[int]) -> None:
        self._drop(partitions)
        self.changed.set()

    def _drop(self, partitions: set[int]) -> None:
        self.held -= partitions
        for partition in partitions:
            self.tokens.pop(partition, None)

    async def settle(self, stop: asyncio.Event) -> dict[int, int] | None:
        """Hold exactly this generation's partitions; return their fencing tokens.

        Call while not folding. Steps, repeated until a generation settles:
            1. clear :attr:`changed`; the partitions of the current generation;
            2. release the leases of partitions held but no longer ours (their last
               commit is in: the folding round ended);
            3. take the leases of our new partitions, waiting for their previous owner's
               release or their expiry (again from 1 if the generation changes);
            4. claim the fencing tokens of the newly taken partitions.
        Returns None when ``stop`` is set first.
        """
        while not stop.is_set():
            if self.generation is None:
                await self._try_beat()
            self.changed.clear()
            mine = self.mine()
            async with self._lock:
                gone = self.held - mine
                if gone:
                    await self.leases.release(self.client, gone)
                    self._drop(gone)
            if not await self._take(mine, stop):
                continue
            new = mine - set(self.tokens)
            if new:
                self.tokens.update(await self.claim(new))
                log.info("projector_partitions_claimed", partitions=sorted(new))
            if self.changed.is_set():
                continue
            return dict(self.tokens)
        return None

    async def _take(self, wanted: set[int], stop: asyncio.Event) -> bool:
        """Hold the leases of ``wanted``; False when the generation changes first."""
        while not stop.is_set() and not self.changed.is_set():
            async with self._lock:
                try:
                    self.held |= await self.leases.renew(self.client, wanted - self.held)
                except RedisError as exc:
                    log.warning("projector_lease_take_failed", error=repr(exc))
                if wanted <= self.held:
                    return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(0.25, self.ttl_ms / 8000))
        return False

    async def _try_beat(self) -> None:
        try:
            await self.beat()
        except (RedisError, RuntimeError) as exc:
            log.warning("projector_heartbeat_failed", error=repr(exc))
            await asyncio.sleep(self.ttl_ms / 3000)

    async def leave(self) -> None:
        """Release every lease and leave the group (the others take over at once)."""
        async with self._lock:
            held, self.held = self.held, set()
            self.tokens.clear()
            try:
                await self.leases.release(self.client, held)
                await self.state.leave(self.client)
            except RedisError as exc:
                log.warning("projector_leave_failed", error=repr(exc))


Round = Callable[[asyncio.Event, Mapping[int, int]], Coroutine[Any, Any, None]]
"""A folding loop (consumer, archiver): runs the partitions of ``tokens`` until the event."""


async def run_rounds(stop: asyncio.Event, group: ProjectorGroup, loops: Sequence[Round]) -> None:
    """Fold the partitions this replica holds, one round per settled generation.

    Steps per round: settle the group (:meth:`ProjectorGroup.settle`: release, take,
    claim); run every loop on the held partitions and their tokens until ``stop`` or
    :attr:`ProjectorGroup.changed` (each loop waits for its commit in flight before it
    returns); a loop fenced by a newer claim ends the round for all, and the fenced
    partitions are forgotten. Then settle again.
    """
    while not stop.is_set():
        tokens = await group.settle(stop)
        if tokens is None:
            return
        halt = asyncio.Event()
        relay = asyncio.create_task(_set_on_first(halt, stop, group.changed))
        tasks = [asyncio.create_task(loop(halt, tokens)) for loop in loops]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            halt.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            relay.cancel()
            halt.set()
            for task in tasks:
                task.cancel()
        for result in results:
            if isinstance(result, Fenced):
                log.error("projector_commit_fenced", detail=str(result))
                group.fenced(result.partitions)
            elif isinstance(result, BaseException):
                raise result


async def _set_on_first(target: asyncio.Event, *sources: asyncio.Event) -> None:
    waits = [asyncio.create_task(s.wait()) for s in sources]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        target.set()
    finally:
        for wait in waits:
            wait.cancel()
