"""Faust consumer reading partition streams with ``XREAD`` from dense offsets.

The consumer keeps to Faust's contract: positions, fetching, commits and the
metadata Faust asks for. Group membership (which partitions this member owns in
each generation, and their leases) is
:class:`~processors.transport.membership.GroupMembership`,
changelog compaction is :class:`~processors.transport.compaction.Compactor`;
both are services started with the consumer and share its typed
:class:`~processors.transport.context.GroupContext`. Committed offsets live in a
Redis hash (:mod:`processors.transport.catalog`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from faust.assignor import PartitionAssignor
from faust.transport import consumer as base
from faust.types import TP, ConsumerMessage
from faust.types.transports import (
    ConsumerCallback,
    PartitionsAssignedCallback,
    PartitionsRevokedCallback,
    TransportT,
)
from mode import ServiceT

from mindhit import streams
from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE
from mindhit.stream_reader import StreamReader
from processors.transport import metrics
from processors.transport.catalog import TopicCatalog
from processors.transport.commit_queue import QueuedCommits
from processors.transport.compaction import Compactor
from processors.transport.context import ContextSource, GroupContext
from processors.transport.fetch_backoff import FetchBackoff
from processors.transport.membership import GroupMembership
from processors.transport.options import TransportOptions
from processors.transport.positions import Positions, to_message
from processors.transport.progress import ProgressWatch
from processors.transport.rebalance import assign_mine
from schema.topics import partition_for

__all__ = ["Consumer"]

log = get_logger(__name__)


class Consumer(QueuedCommits):
    """Reads assigned partition streams; commits offsets to a Redis hash."""

    consumer_stopped_errors = ()

    def __init__(
        self,
        transport: TransportT,
        callback: ConsumerCallback,
        on_partitions_revoked: PartitionsRevokedCallback,
        on_partitions_assigned: PartitionsAssignedCallback,
        **kwargs: Any,
    ) -> None:
        member = f"{transport.app.conf.id}-{uuid.uuid4().hex[:12]}"
        self.ctx: GroupContext = cast(ContextSource, transport).group_context(member)
        self._client: aioredis.Redis | None = None
        self._reader: StreamReader | None = None
        self._assignment: set[TP] = set()
        self.positions = Positions(self.ctx, stopping=lambda: self.should_stop)
        self._subscribed: set[str] = set()
        self._generation = 0
        self._progress = ProgressWatch()
        self._fetch = FetchBackoff()
        super().__init__(
            transport, callback, on_partitions_revoked, on_partitions_assigned, **kwargs
        )
        self.membership = GroupMembership(self.ctx, on_lost=self.crash, loop=self.loop)
        self.compactor = Compactor(self.ctx, held=self.assignment, loop=self.loop)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """Membership and compaction start with the consumer and stop after its last commit."""
        return [*super().on_init_dependencies(), self.membership, self.compactor]

    # -- plumbing -------------------------------------------------------------------------

    @property
    def options(self) -> TransportOptions:
        """The transport's broker URL options."""
        return self.ctx.options

    @property
    def catalog(self) -> TopicCatalog:
        """The transport's topic catalog."""
        return self.ctx.catalog

    @property
    def client(self) -> aioredis.Redis:
        """This consumer's Redis client for fetches and metadata (created on first use)."""
        if self._client is None:
            self._client = self.ctx.new_client()
        return self._client

    @property
    def reader(self) -> StreamReader:
        """Reads the fetched streams over :attr:`client` (one per client)."""
        if self._reader is None or self._reader.client is not self.client:
            self._reader = StreamReader(self.client)
        return self._reader

    @property
    def group(self) -> str:
        """The consumer group: the Faust app id, as with Kafka."""
        return self.ctx.group

    async def on_stop(self) -> None:
        """Commit what is done (base class), close the connection. The membership service
        stops after this (a dependency): leases are released after the last commit."""
        await super().on_stop()
        await self._close_client()

    async def _close_client(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def aclose(self) -> None:
        """Close this consumer's Redis connections (its own and its services'), unstarted."""
        await self._close_client()
        await self.membership.aclose()
        await self.compactor.on_stop()

    def close(self) -> None:
        """Stop fetching: drop what fetches in flight read."""
        self.positions.invalidate()

    # -- subscription and rebalance ---------------------------------------------------

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Subscribe to ``topics``; rebalances run in the background, as with Kafka."""
        self._subscribed = set(topics)
        self.add_future(self._follow_group())

    async def _follow_group(self) -> None:
        """Join the group, then move to each new generation (once: one began mid-rebalance)."""
        await self.catalog.refresh()
        counts = [self.catalog.partitions(t) for t in self._subscribed]
        await self.membership.join(max(counts, default=0))
        while not self.should_stop:
            await self.membership.changed.wait()
            self.membership.changed.clear()
            if (gen := self.membership.generation) is None or gen.number != self._generation:
                try:
                    await self._rebalance()
                except UNREACHABLE:
                    if not self.should_stop:  # else a stop closed the connections mid-way
                        raise

    async def _rebalance(self) -> None:
        """Move to the group's current generation.

        Steps:
            1. ``app.on_rebalance_start()``, then revoke the old assignment (Faust waits for
               in-flight messages, flushes and commits while the leases are still held).
            2. Release the leases of partitions the generation gave to others.
            3. Take the leases of its partitions (waiting for their previous owners to
               release them or for them to expire); if a newer generation appears, go to 2.
            4. Run Faust's assignor narrowed to those partition numbers.
            5. Bump the generation id; set positions of all its partitions to their
               committed offsets (or the reset policy's offset) and forget Faust's read
               offsets of them (an old one makes Faust skip, then commit past, entries).
            6. ``on_partitions_assigned`` (Faust recovers tables, then seeks and resumes).
        """
        await self.catalog.refresh()
        topics = sorted(self._subscribed)
        self.app.on_rebalance_start()
        await self.on_partitions_revoked(set(self._assignment))
        self._assignment = set()  # revoked: nothing is fetched or committed until assigned
        while True:
            generation = self.membership.generation
            if generation is None or self.should_stop:
                return
            mine = self.membership.mine()
            await self.membership.give_up(self.membership.held - mine)
            if await self.membership.take(mine, generation.number):
                break
        assigned = assign_mine(
            cast(PartitionAssignor, self.app.assignor),
            {topic: self.catalog.partitions(topic) for topic in topics},
            topics,
            self.ctx.member,
            mine,
        )
        self._assignment = assigned
        self.positions.retain(set())  # from the commit: fetched-not-processed is dropped
        for tp in assigned:
            self._read_offset.pop(tp, None)
        await self.membership.check_log(self.client, mine)
        await self._start_positions(assigned)
        self._generation = generation.number
        self.app.consumer_generation_id = self._generation
        log.info(
            "partitions assigned",
            group=self.group,
            partitions=sorted(mine),
            topic_partitions=len(assigned),
            generation=self._generation,
        )
        await self.on_partitions_assigned(assigned, self._generation)

    async def _start_positions(self, tps: set[TP]) -> None:
        """Position ``tps`` at their committed offset, else per the reset policy."""
        latest = self.app.conf.consumer_auto_offset_reset == "latest"
        await self.positions.start(self.client, tps, latest=latest)

    def assignment(self) -> set[TP]:
        """The partitions this worker holds."""
        return set(self._assignment)

    def _new_topicpartition(self, topic: str, partition: int) -> TP:
        return TP(topic, partition)

    # -- positions ------------------------------------------------------------------------

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Move assigned partitions to their committed offsets (others keep theirs); return them."""
        self.positions.invalidate()
        tps = set(self._assignment)
        committed = await self.positions.committed(self.client, tps)
        self.positions.next.update(committed)
        await self._start_positions({tp for tp in tps if tp not in self.positions.next})
        return committed

    async def _seek(self, partition: TP, offset: int) -> None:
        self.positions.seek(partition, offset)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        """Seek partitions (recovery) and update Faust's read offsets to match."""
        for tp, offset in partitions.items():
            tp = TP(tp.topic, tp.partition)
            self.positions.seek(tp, offset)
            if offset > 0:
                self._read_offset[tp] = offset
            else:
                self._read_offset.pop(tp, None)

    async def position(self, tp: TP) -> int | None:
        """The offset the next fetch reads from."""
        return self.positions.next.get(TP(tp.topic, tp.partition))

    # -- fetching -------------------------------------------------------------------------

    async def _getmany(
        self, active_partitions: set[TP] | None, timeout: float
    ) -> Mapping[TP, list[streams.StreamRecord]]:
        """Read new entries of the active (not paused) partitions (dropped when fetched
        across a seek, so it takes effect, or from a log Redis lost)."""
        if not self.flow_active:
            return {}
        wanted = (
            self._assignment if active_partitions is None else active_partitions & self._assignment
        )
        positions = self.positions.next if self.membership.log_lost is None else {}  # stand still
        by_stream = {self.ctx.stream(tp): tp for tp in wanted if tp in positions}
        if not by_stream:
            await asyncio.sleep(min(timeout, self.options.block_ms / 1000 or 0.05))
            return {}
        epoch = self.positions.epoch
        block_ms = int(min(timeout * 1000, self.options.block_ms))
        try:
            records = await self.reader.read(
                {name: positions[tp] for name, tp in by_stream.items()},
                count=self.options.fetch_count,
                block_ms=block_ms if block_ms > 0 else None,
            )
        except UNREACHABLE as exc:  # keep positions, retry on the next fetch
            await self._fetch.failed(exc)
            return {}
        self._fetch.succeeded()
        if epoch != self.positions.epoch or not await self.membership.backs(records, by_stream):
            return {}
        return self.positions.advance(by_stream, records)

    def _to_message(self, tp: TP, record: streams.StreamRecord) -> ConsumerMessage:
        return to_message(tp, record, self.app.consumer_generation_id)

    # -- commits --------------------------------------------------------------------------

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Store committed offsets (next offset to read) for assigned partitions.

        Faust calls this after flushing the producer, so table changelog entries
        of everything up to these offsets are stored before the offsets are. The
        write is fenced by the partition leases: a member that lost one crashes instead.

        Faust then records ``offsets`` as committed whatever this returns and never
        offers them again, so a Redis error (down, restarting, loading, a pooled
        connection the restart left dead) is retried here until they are stored.

        Steps:
            1. Keep the offsets of assigned partitions.
            2. Store them fenced by the lease, retrying Redis errors until stored or
               the worker stops (:meth:`GroupMembership.commit_until_stored`); if
               another worker holds the lease, the worker crashes.
            3. Publish the committed offsets as metrics.
        """
        mine = {
            (tp.topic, tp.partition): offset
            for tp, offset in offsets.items()
            if tp in self._assignment
        }
        if not mine:
            return False
        stored = await self.membership.commit_until_stored(
            mine, lambda: bool(self.should_stop or self.app.should_stop)
        )
        if not stored:
            return False
        for (topic, partition), offset in mine.items():
            metrics.COMMITTED.labels(topic, str(partition)).set(offset)
        return True

    # -- offsets and metadata -------------------------------------------------------------

    def highwater(self, tp: TP) -> int:
        """The highwater seen most recently (refreshed by fetches and a timer)."""
        return self.positions.highwaters.get(TP(tp.topic, tp.partition), 0)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        """The offset the next append will get, per partition."""
        return await self.positions.read_highwaters(self.client, partitions)

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        """The offset of the oldest entry still stored, per partition."""
        return await self.positions.read_earliest(self.client, partitions)

    def topic_partitions(self, topic: str) -> int | None:
        """Partition count of ``topic``."""
        return int(self.catalog.partitions(topic))

    def key_partition(
        self, topic: str, key: bytes | None, partition: int | None = None
    ) -> int | None:
        """Partition of ``key`` (the gateway's hash), or ``partition`` when given."""
        if partition is not None:
            return partition
        if not key:
            return None
        return partition_for(key, self.catalog.partitions(topic))

    async def create_topic(
        self,
        topic: str,
        partitions: int,
        replication: int,
        *,
        compacting: bool | None = None,
        **options: Any,
    ) -> None:
        """Declare a topic (partition count, compaction) in Redis; Kafka-only options ignored."""
        await self.catalog.declare(topic, partitions, compacting=bool(compacting))

    def verify_event_path(self, now: float, tp: TP) -> None:
        """Warn when a partition has unread or unacked entries but its commit stopped moving.

        Faust's livelock detector calls this every ``broker_commit_interval * 2.5``;
        an agent stuck on one message shows up here as a partition whose committed
        offset has not moved for ``broker_commit_livelock_soft_timeout`` seconds.
        """
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        self._progress.warn_if_stalled(
            tp,
            now,
            self._committed_offset.get(tp),
            self.positions.highwaters.get(tp, 0),
            self.commit_livelock_soft_timeout,
        )

    # -- background jobs ------------------------------------------------------------------

    @base.Service.task
    async def _refresh_highwaters(self) -> None:
        while not self.should_stop:
            await self.sleep(5.0)
            if self._assignment:
                try:
                    await self.positions.read_highwaters(self.client, self._assignment, wait=False)
                except Exception as exc:
                    log.warning("highwater refresh failed", error=repr(exc))
