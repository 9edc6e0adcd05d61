"""A worker's membership of its consumer group: heartbeats, partition leases, fenced commits.

There is no broker-side group coordinator. A worker joins its group by
heartbeating (:class:`~mindhit.group_state.GroupState`); every generation
assigns each partition to one live member. The consumer waits for
:attr:`GroupMembership.changed`, then revokes, gives up the leases of partitions it
no longer owns, takes the leases of those it now owns (:meth:`GroupMembership.take`)
and assigns. Leases are renewed with every heartbeat; commits are fenced by them, and by
the partitions' log epochs (:mod:`processors.transport.log_check`): a worker that finds
the log lost under its offsets stands still and says so (:attr:`GroupMembership.log_lost`).

Timing (``lease_ms`` = T): heartbeats and renewals every T/3; a member that dies
drops out of the group T after its last heartbeat and its partition leases expire
by then too, so its partitions move within about T + T/3 plus the new owner's
table recovery (documented bound: 2 × T + recovery). Renewals go to each Redis node
on their own, each waited for at most T/2, so a node that stops answering costs only
its own partitions' leases; a member whose group heartbeat has failed for T renews
none (the others count it gone and wait for its leases to expire).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from mode import Service
from redis.exceptions import RedisError

from mindhit.assignment import owned
from mindhit.group_state import Generation, GroupState
from mindhit.keys import TP
from mindhit.logs import get_logger
from mindhit.offsets import migrate_legacy
from mindhit.redis_client import UNREACHABLE
from mindhit.redis_cluster import within
from mindhit.redis_retry import LOGGED_EVERY, until_reachable
from processors.transport import metrics
from processors.transport.context import GroupContext
from processors.transport.lease import LeaseLost, LogLost, PartitionLeases
from processors.transport.log_watch import LogWatch

__all__ = ["GroupMembership", "LeaseLost", "LogLost"]

log = get_logger(__name__)

#: A commit that keeps failing is logged on its 1st, 31st, 61st... attempt (about a minute apart).
_COMMIT_FAILURES_LOGGED_EVERY = 30

OnLost = Callable[[BaseException], Awaitable[None]]


class GroupMembership(LogWatch, Service):
    """This worker's place in its consumer group and the partition leases it holds."""

    def __init__(self, ctx: GroupContext, *, on_lost: OnLost, **kwargs: Any) -> None:
        self.ctx = ctx
        ttl = ctx.options.lease_ms
        self.leases = PartitionLeases(ctx.prefix, ctx.group, ctx.member, ttl)
        self.group_state = GroupState(ctx.prefix, ctx.group, ctx.member, ttl)
        self.generation: Generation | None = None
        self.changed = asyncio.Event()
        self.held: set[int] = set()
        self.epochs: dict[int, str | None] = {}
        """The log epoch each partition was read in (None: it had none yet)."""
        self.committed: dict[TP, int] = {}
        """The last offsets stored (or read at assignment) per topic partition."""
        self.log_lost: LogLost | None = None
        """Set once Redis lost the log under the offsets: nothing is fetched or committed."""
        self._partitions = 0
        self._beaten_at = -float("inf")  # the loop's time the last group heartbeat was sent
        self._on_lost = on_lost
        self._client: aioredis.Redis | None = None
        self._lock = asyncio.Lock()  # heartbeats, takes and releases never overlap
        super().__init__(**kwargs)

    @property
    def client(self) -> aioredis.Redis:
        """This service's own Redis client (created on first use)."""
        if self._client is None:
            self._client = self.ctx.new_client()
        return self._client

    def mine(self) -> set[int]:
        """The partitions the current generation gives this member."""
        if self.generation is None:
            return set()
        return owned(self.generation.owners, self.ctx.member)

    async def join(self, partitions: int) -> Generation:
        """Join the group of ``partitions`` partitions; heartbeats go on.

        Steps:
            1. Move the group's offsets from a pre-cluster deployment's single hash into
               the per-partition hashes (:func:`mindhit.offsets.migrate_legacy`; one read
               once that is done), before any partition's commit is read.
            2. The first heartbeat.
        """
        moved = await until_reachable(
            lambda: migrate_legacy(self.client, self.ctx.prefix, self.ctx.group),
            what="joining the group",
            stopping=lambda: self.should_stop,
        )
        if moved:
            log.info("offsets moved to per-partition hashes", group=self.ctx.group, fields=moved)
        self._partitions = partitions

        async def beat() -> Generation:
            async with self._lock:
                return await self._beat()

        return await until_reachable(
            beat, what="joining the group", stopping=lambda: self.should_stop
        )

    async def _beat(self) -> Generation:
        sent = asyncio.get_running_loop().time()  # no later than Redis dates the heartbeat
        generation = await self.group_state.heartbeat(self.client, self._partitions)
        self._beaten_at = sent  # not when its answer came (up to half a lease on)
        if self.generation is None or generation.number != self.generation.number:
            log.info(
                "group generation",
                group=self.ctx.group,
                generation=generation.number,
                members=len(generation.members),
                partitions=sorted(owned(generation.owners, self.ctx.member)),
            )
            self.generation = generation
            self.changed.set()
        return generation

    async def take(self, partitions: set[int], generation: int) -> bool:
        """Hold the leases of ``partitions``; False when generation ``generation`` ended first.

        A partition's previous owner releases its lease after its last commit, or the
        lease expires (owner dead); until then this waits, renewing what it holds.
        """
        failures = 0
        while not self.should_stop:
            async with self._lock:
                current = self.generation
                if current is None or current.number != generation:
                    return False
                try:
                    self.held |= await self.leases.renew(self.client, partitions - self.held)
                except UNREACHABLE as exc:  # a failover, the URL's node down: try again
                    failures += 1
                    if failures % LOGGED_EVERY == 1:  # not every 0.25 s while Redis is down
                        log.warning(
                            "taking leases failed; retrying", attempt=failures, error=repr(exc)
                        )
                metrics.LEASE_HELD.set(len(self.held))
                if partitions <= self.held:
                    return True
            await self.sleep(min(0.25, self.ctx.options.lease_ms / 8000))
        return False

    async def give_up(self, partitions: set[int]) -> None:
        """Release the leases of ``partitions`` (their last commit is stored)."""
        gone = partitions & self.held
        if not gone:
            return
        async with self._lock:
            self.held -= gone
            metrics.LEASE_HELD.set(len(self.held))
            try:
                await self.leases.release(self.client, gone)
            except UNREACHABLE as exc:  # not released: they expire, then others take them
                log.warning("releasing leases failed; they expire", error=repr(exc))

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store committed offsets, fenced by the partition leases (one attempt).

        Raises:
            LogLost: Redis lost the log of one of the partitions (or lost it before).
            LeaseLost: another member holds one of the partitions' leases.
            redis.exceptions.RedisError: Redis failed; the caller retries.
        """
        if self.log_lost is not None:
            raise self.log_lost
        stamped = await self.leases.commit(self.client, offsets, self.epochs)
        self.epochs.update({p: e for p, e in stamped.items() if e is not None})
        self.committed.update(offsets)

    async def commit_until_stored(
        self, offsets: Mapping[tuple[str, int], int], stopping: Callable[[], bool]
    ) -> bool:
        """Store committed offsets fenced by the leases, retrying Redis errors until stored.

        Steps:
            1. Run the fenced commit; if Redis lost a partition's log, stand still
               (:meth:`check_log`) and return False; if another member holds a lease,
               log, report the lease lost (the worker crashes) and return False.
            2. On a Redis error, back off and go to 1, until stored or ``stopping()``
               (not stored at shutdown: the next owner replays from the last stored
               commit, as after a crash; a SIGTERM never waits for Redis).
        """
        failures = 0
        while True:
            try:
                await self.commit(offsets)
                break
            except LogLost as exc:
                self._stand_still(exc)
                return False
            except LeaseLost as exc:
                log.error("partition lease lost; stopping", group=self.ctx.group, error=str(exc))
                await self._lost(exc)
                return False
            except RedisError as exc:
                failures += 1
                if stopping():
                    log.warning("commit failed while stopping", error=repr(exc), detail=str(exc))
                    return False
                metrics.COMMIT_RETRIES.inc()
                if failures % _COMMIT_FAILURES_LOGGED_EVERY == 1:
                    log.warning(
                        "commit failed; retrying until stored",
                        error=repr(exc),
                        detail=str(exc),
                        failed_attempts=failures,
                    )
                await self.sleep(min(0.05 * 2**failures, 2.0))
        if failures:
            log.info("commit stored", failed_attempts=failures)
        return True

    async def _lost(self, exc: LeaseLost) -> None:
        """A lease was taken over: stop heartbeating, leave the group, crash the worker.

        Leaving at once keeps the next generation from giving this (stopping) member
        partitions it would never take.
        """
        if self._partitions:
            self._partitions = 0
            try:
                await self.group_state.leave(self.client)
            except Exception as error:
                log.warning("leaving the group failed; membership expires", error=repr(error))
        await self._on_lost(exc)

    @Service.task
    async def _heartbeat(self) -> None:
        """Every third of the lease: heartbeat and, at the same time and node by node,
        check the held partitions' log epochs (before a flushed lease is taken again),
        then renew their leases (:meth:`~mindhit.leases.Leases.renew_by_node`)."""
        lease_s = self.ctx.options.lease_ms / 1000
        while not self.should_stop:
            await self.sleep(lease_s / 3)
            async with self._lock:
                if self.should_stop:  # on_stop releases the leases: never renew after
                    return
                if not self._partitions:
                    continue
                # Renew only while the group still counts this member (it heartbeat
                # within a lease): otherwise others wait for leases that never expire.
                # Each call waits at most half a lease: a healthy lease is renewed again
                # within 5/6 of it, however long a node that stopped answering takes.
                in_group = asyncio.get_running_loop().time() - self._beaten_at < lease_s
                beat, lost = await asyncio.gather(
                    within(lease_s / 2, self._beat(), "the group heartbeat"),
                    self.leases.renew_by_node(
                        self.client, self.held, limit_s=lease_s / 2, before=self._watch_log
                    )
                    if in_group
                    else asyncio.sleep(0, set()),
                    return_exceptions=True,
                )
                for what, outcome in (("heartbeat", beat), ("lease renewal", lost)):
                    if isinstance(outcome, BaseException):  # Redis unreachable: next time
                        log.warning(f"{what} failed", error=repr(outcome))
            if isinstance(lost, set) and lost:
                log.error("partition leases taken over; stopping", partitions=sorted(lost))
                await self._lost(LeaseLost(f"leases of partitions {sorted(lost)} taken over"))
                return

    async def on_stop(self) -> None:
        """Release the leases held and leave the group (others take over at once)."""
        async with self._lock:
            held, self.held = self.held, set()
            metrics.LEASE_HELD.set(0)
            try:
                if held:
                    await self.leases.release(self.client, held)
                if self._partitions:
                    await self.group_state.leave(self.client)
            except Exception as exc:
                log.warning(
                    "leaving the group failed; leases expire by themselves", error=repr(exc)
                )
        await self.aclose()

    async def aclose(self) -> None:
        """Close this service's Redis connection."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
