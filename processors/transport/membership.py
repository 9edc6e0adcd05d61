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
table recovery (documented bound: 2 × T + recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from faust.types import TP as FaustTP
from mode import Service
from redis.exceptions import RedisError

from mindhit.assignment import owned
from mindhit.group_state import Generation, GroupState
from mindhit.keys import TP
from mindhit.log_epoch import describe
from mindhit.logs import get_logger
from mindhit.offsets import migrate_legacy
from mindhit.redis_client import UNREACHABLE
from mindhit.redis_retry import LOGGED_EVERY, until_reachable
from mindhit.streams import StreamRecord
from processors.transport import metrics
from processors.transport.context import GroupContext
from processors.transport.lease import LeaseLost, LogLost, PartitionLeases, lost_epochs
from processors.transport.log_check import (
    assess,
    changed_epochs,
    read_backing,
    read_epochs_of,
    read_highwaters,
    streams_behind,
)

__all__ = ["GroupMembership", "LeaseLost", "LogLost"]

log = get_logger(__name__)

#: A commit that keeps failing is logged on its 1st, 31st, 61st... attempt (about a minute apart).
_COMMIT_FAILURES_LOGGED_EVERY = 30

OnLost = Callable[[BaseException], Awaitable[None]]


class GroupMembership(Service):
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
        generation = await self.group_state.heartbeat(self.client, self._partitions)
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

    async def check_log(self, client: aioredis.Redis, partitions: set[int]) -> None:
        """Check that the log backs the stored offsets of ``partitions`` (just taken).

        Steps:
            1. Read the group's offsets hashes, epochs and highwaters of the partitions.
            2. :func:`~processors.transport.log_check.assess` them; remember the epoch
               each partition's commits must find and the offsets read.
            3. If an epoch changed since this worker read a partition and its offsets
               lost their stamp with the log, write its last offsets back stamped with
               the old epoch (the fenced commit does, refusing to store them as new).
            4. Any loss: stand still (nothing is fetched or committed from now on).
        """
        if not partitions or self.log_lost is not None:
            return
        backing = await until_reachable(
            lambda: read_backing(client, self.ctx.prefix, self.ctx.group, partitions),
            what="checking the log under the offsets",
            stopping=lambda: self.should_stop,
        )
        verdict = assess(
            self.ctx.group, backing, {p: self.epochs[p] for p in partitions if p in self.epochs}
        )
        self.epochs.update(verdict.expected)
        self.committed.update(verdict.committed)
        if verdict.forgotten:
            await self._record_loss(verdict.forgotten)
        elif verdict.problems:
            lost = LogLost({p.partition for p in verdict.problems}, describe(verdict.problems))
            self._stand_still(lost)

    async def backs(
        self, records: Sequence[StreamRecord], by_stream: Mapping[str, FaustTP]
    ) -> bool:
        """Whether fetched ``records`` come from the logs their partitions were read in.

        The partitions' epochs are read after the entries: a Redis that lost the log
        before the read has another epoch (or none) by then. A partition read before it
        had an epoch takes the first one seen. On a change: stand still, False. A Redis
        error: False too (the entries are fetched again).
        """
        if not records or self.log_lost is not None:
            return self.log_lost is None
        partitions = {by_stream[r.stream].partition for r in records}
        try:
            current = await read_epochs_of(self.client, self.ctx.prefix, partitions)
        except RedisError:
            return False
        for partition in partitions:
            if self.epochs.get(partition) is None:
                self.epochs[partition] = current[partition]
        changed = changed_epochs({p: self.epochs.get(p) for p in partitions}, current)
        if changed:
            await self._record_loss(changed)
        return not changed

    async def _watch_log(self) -> None:
        """Compare the held partitions' epochs with the ones read, and their streams'
        highwaters with the offsets stored; stand still on a change or a stream behind
        (a failover to a replica that lacked the last entries keeps the epoch)."""
        if self.log_lost is not None or not self.held:
            return
        current = await read_epochs_of(self.client, self.ctx.prefix, self.held)
        changed = changed_epochs({p: self.epochs.get(p) for p in self.held}, current)
        if changed:
            await self._record_loss(changed)
            return
        mine = {tp: o for tp, o in self.committed.items() if tp[1] in self.held}
        behind = streams_behind(mine, await read_highwaters(self.client, self.ctx.prefix, mine))
        if behind:
            reason = "; ".join(behind.values())
            self._stand_still(LogLost({p for _, p in behind}, f"log lost: {reason}"))

    async def _record_loss(self, changed: Mapping[int, str | None]) -> None:
        """Leave the last offsets of ``changed`` partitions, and of every other held
        partition whose epoch changed too, stamped with the old epoch (the fenced commit
        refuses them, writing them back only where the stamp was lost and nobody else
        holds the lease), then stand still."""
        others = self.held - set(changed)
        with contextlib.suppress(RedisError):
            current = await read_epochs_of(self.client, self.ctx.prefix, others)
            changed = {
                **changed_epochs({p: self.epochs.get(p) for p in others}, current),
                **changed,
            }
        offsets = {tp: o for tp, o in self.committed.items() if tp[1] in changed}
        with contextlib.suppress(LogLost, LeaseLost, RedisError):  # LogLost: as expected
            await self.leases.commit(self.client, offsets, self.epochs)
        self._stand_still(lost_epochs(self.epochs, changed))

    def _stand_still(self, exc: LogLost) -> None:
        """Stop fetching and committing for good (until ``mindhit recover`` and a restart)."""
        if self.log_lost is None:
            log.error(
                "log_lost",
                group=self.ctx.group,
                partitions=sorted(exc.partitions),
                reason=exc.reason,
            )
            metrics.LOG_LOST.set(1)
            self.log_lost = exc

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
        """Every third of the lease: heartbeat, check the held partitions' log epochs,
        then renew their leases."""
        while not self.should_stop:
            await self.sleep(self.ctx.options.lease_ms / 3000)
            async with self._lock:
                if self.should_stop:  # on_stop releases the leases: never renew after
                    return
                if not self._partitions:
                    continue
                try:
                    await self._beat()
                    await self._watch_log()  # before a flushed lease is taken again
                    kept = await self.leases.renew(self.client, self.held)
                except Exception as exc:  # Redis unreachable: the next beat may succeed
                    log.warning("heartbeat failed", error=repr(exc))
                    continue
                lost = self.held - kept
            if lost:
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
