"""Watching the log under a worker's offsets: a Redis that lost it must stop the worker.

A failover to a replica that lacked the last entries, a restart without persistence or
a flush can leave the committed offsets pointing past the log. The partitions' log
epochs (:mod:`mindhit.log_epoch`) and the streams' highwaters tell; a worker that finds
the log lost stands still (fetches and commits nothing) and says so, until
``mindhit recover`` and a restart. Part of :class:`~processors.transport.membership.
GroupMembership`, which holds the state these methods read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis
from faust.types import TP as FaustTP
from redis.exceptions import RedisError

from mindhit.keys import TP
from mindhit.log_epoch import describe
from mindhit.logs import get_logger
from mindhit.redis_retry import until_reachable
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

__all__ = ["LogWatch"]

log = get_logger(__name__)


class LogWatch:
    """The log checks of a group member: at assignment, on each fetch, at each heartbeat."""

    ctx: GroupContext
    leases: PartitionLeases
    held: set[int]
    epochs: dict[int, str | None]
    """The log epoch each partition was read in (None: it had none yet)."""
    committed: dict[TP, int]
    """The last offsets stored (or read at assignment) per topic partition."""
    log_lost: LogLost | None
    """Set once Redis lost the log under the offsets: nothing is fetched or committed."""
    should_stop: bool

    @property
    def client(self) -> aioredis.Redis:
        """The member's own Redis client."""
        raise NotImplementedError

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

    async def _watch_log(self, partitions: set[int]) -> None:
        """Compare the epochs of ``partitions`` (held) with the ones read, and their streams'
        highwaters with the offsets stored; stand still on a change or a stream behind
        (a failover to a replica that lacked the last entries keeps the epoch)."""
        if self.log_lost is not None or not partitions:
            return
        current = await read_epochs_of(self.client, self.ctx.prefix, partitions)
        changed = changed_epochs({p: self.epochs.get(p) for p in partitions}, current)
        if changed:
            await self._record_loss(changed)
            return
        mine = {tp: o for tp, o in self.committed.items() if tp[1] in partitions}
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
