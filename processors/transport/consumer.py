"""Faust consumer reading partition streams with ``XREAD`` from dense offsets.

There is no broker-side group coordinator: ``subscribe`` runs the rebalance
itself with Faust's own :class:`~faust.assignor.PartitionAssignor` (so
co-partitioning, standbys and table placement behave as on Kafka) for this one
worker, which gets every partition. Positions are kept here; committed offsets
live in a Redis hash (:mod:`processors.transport.catalog`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from faust.transport import consumer as base
from faust.types import TP, ConsumerMessage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mindhit import streams
from mindhit.logs import get_logger
from processors.transport import metrics
from processors.transport.catalog import load_committed
from processors.transport.compaction import compact_stream
from processors.transport.lease import GroupLease, LeaseLost
from schema.log import FIELD_HEADERS, FIELD_KEY, FIELD_TIMESTAMP, FIELD_VALUE, decode_headers
from schema.topics import partition_for, stream_key

__all__ = ["Consumer"]

log = get_logger(__name__)

#: A commit that keeps failing is logged on its 1st, 31st, 61st... attempt (about a minute apart).
_COMMIT_FAILURES_LOGGED_EVERY = 30


class _Cluster:
    """The part of Kafka's cluster metadata Faust's assignor reads."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self._partitions.get(topic)
        return set(range(count)) if count else None


def assigned_tps(assignment: ConsumerProtocolMemberAssignment) -> set[TP]:
    """The topic partitions of one member's protocol assignment."""
    return {
        TP(topic, partition)
        for topic, partitions in assignment.assignment
        for partition in partitions
    }


class Consumer(base.Consumer):
    """Reads assigned partition streams; commits offsets to a Redis hash."""

    consumer_stopped_errors = ()

    def __init__(
        self,
        transport: Any,
        callback: Any,
        on_partitions_revoked: Any,
        on_partitions_assigned: Any,
        **kwargs: Any,
    ) -> None:
        self._client: aioredis.Redis | None = None
        self._assignment: set[TP] = set()
        self._positions: dict[TP, int] = {}
        self._highwaters: dict[TP, int] = {}
        self._seek_epoch = 0
        self._subscribed: set[str] = set()
        self._generation = 0
        self._rebalance_lock: asyncio.Lock | None = None
        self._member_id = f"{transport.app.conf.id}-{uuid.uuid4().hex[:12]}"
        self._lease: GroupLease | None = None
        self._lease_held = False
        self._progress: dict[TP, tuple[int | None, float]] = {}
        self._fetch_failures = 0
        super().__init__(
            transport, callback, on_partitions_revoked, on_partitions_assigned, **kwargs
        )

    # -- plumbing -------------------------------------------------------------------------

    @property
    def options(self) -> Any:
        """The transport's broker URL options."""
        return self.transport.options  # type: ignore[attr-defined]

    @property
    def catalog(self) -> Any:
        """The transport's topic catalog."""
        return self.transport.catalog  # type: ignore[attr-defined]

    @property
    def client(self) -> aioredis.Redis:
        """This consumer's Redis client (created on first use)."""
        if self._client is None:
            self._client = self.transport.new_client()  # type: ignore[attr-defined]
        return self._client

    @property
    def group(self) -> str:
        """The consumer group: the Faust app id, as with Kafka."""
        return str(self.app.conf.id)

    @property
    def lease(self) -> GroupLease:
        """This worker's lease on its consumer group."""
        if self._lease is None:
            self._lease = GroupLease(
                self.options.prefix, self.group, self._member_id, self.options.lease_ms
            )
        return self._lease

    def _stream(self, tp: TP) -> str:
        return stream_key(self.options.prefix, tp.topic, tp.partition)

    async def on_stop(self) -> None:
        """Commit what is done (base class), release the lease, close the connection."""
        await super().on_stop()
        if self._lease_held:
            try:
                await self.lease.release(self.client)
                metrics.LEASE_HELD.set(0)
            except Exception as exc:
                log.warning("lease release failed; it expires by itself", error=repr(exc))
            self._lease_held = False
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        """Stop fetching: drop the assignment's positions."""
        self._seek_epoch += 1

    # -- subscription and rebalance ---------------------------------------------------

    async def subscribe(self, topics: Iterable[str]) -> None:
        """Subscribe to ``topics``; the rebalance runs in the background, as with Kafka."""
        self._subscribed = set(topics)
        self.add_future(self._rebalance())

    async def _rebalance(self) -> None:
        """Assign every partition of the subscription to this worker.

        Steps:
            0. Hold the group lease (wait as a standby while another worker holds it).
            1. ``app.on_rebalance_start()``, then revoke the old assignment (Faust waits
               for in-flight messages, flushes the producer and commits).
            2. Run Faust's PartitionAssignor over this single member; hand it the result.
            3. Bump the generation id; set positions of the new partitions to their
               committed offsets (or the reset policy's offset).
            4. ``on_partitions_assigned`` (Faust recovers tables, then seeks and resumes).
        """
        if self._rebalance_lock is None:
            self._rebalance_lock = asyncio.Lock()
        async with self._rebalance_lock:
            await self._acquire_lease()
            await self.catalog.refresh()
            topics = sorted(self._subscribed)
            self.app.on_rebalance_start()
            await self.on_partitions_revoked(set(self._assignment))
            assignor: Any = self.app.assignor
            cluster = _Cluster({topic: self.catalog.partitions(topic) for topic in topics})
            result = assignor.assign(cluster, {self._member_id: assignor.metadata(set(topics))})
            mine = result[self._member_id]
            assignor.on_assignment(mine)
            assigned = assigned_tps(mine)
            self._seek_epoch += 1
            self._assignment = assigned
            self._positions = {tp: pos for tp, pos in self._positions.items() if tp in assigned}
            await self._init_positions(assigned - set(self._positions))
            self._generation += 1
            self.app.consumer_generation_id = self._generation
            log.info(
                "partitions assigned",
                group=self.group,
                partitions=len(assigned),
                generation=self._generation,
            )
            await self.on_partitions_assigned(assigned, self._generation)

    async def _committed(self, tps: set[TP]) -> dict[TP, int]:
        stored = await load_committed(
            self.client, self.options.prefix, self.group, [(tp.topic, tp.partition) for tp in tps]
        )
        return {TP(topic, partition): offset for (topic, partition), offset in stored.items()}

    async def _acquire_lease(self) -> None:
        waiting_logged = False
        while not self.should_stop:
            if await self.lease.renew(self.client):
                self._lease_held = True
                metrics.LEASE_HELD.set(1)
                if waiting_logged:
                    log.info("group lease acquired", group=self.group, member=self._member_id)
                return
            if not waiting_logged:
                holder = await self.lease.holder(self.client)
                log.warning("waiting for group lease", group=self.group, holder=holder)
                waiting_logged = True
            await self.sleep(self.options.lease_ms / 4000)

    async def _init_positions(self, tps: set[TP]) -> dict[TP, int]:
        """Position ``tps`` at their committed offset, else per the reset policy."""
        committed = await load_committed(
            self.client, self.options.prefix, self.group, [(tp.topic, tp.partition) for tp in tps]
        )
        found: dict[TP, int] = {}
        for tp in tps:
            offset = committed.get((tp.topic, tp.partition))
            if offset is not None:
                found[tp] = offset
                self._positions[tp] = offset
            elif self.app.conf.consumer_auto_offset_reset == "latest":
                self._positions[tp] = await streams.highwater(self.client, self._stream(tp))
            else:
                self._positions[tp] = await streams.earliest_offset(self.client, self._stream(tp))
        return found

    def assignment(self) -> set[TP]:
        """The partitions this worker holds."""
        return set(self._assignment)

    def _new_topicpartition(self, topic: str, partition: int) -> TP:
        return TP(topic, partition)

    # -- positions ------------------------------------------------------------------------

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Move every assigned partition to its committed offset; return those offsets.

        Partitions without a committed offset keep their position (set from the
        reset policy at assignment, or by recovery).
        """
        self._seek_epoch += 1
        tps = set(self._assignment)
        committed = await self._committed(tps)
        for tp, offset in committed.items():
            self._positions[tp] = offset
        await self._init_positions({tp for tp in tps if tp not in self._positions})
        return committed

    async def _seek(self, partition: TP, offset: int) -> None:
        self._seek_epoch += 1
        self._positions[TP(partition.topic, partition.partition)] = offset

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        """Seek partitions (recovery) and update Faust's read offsets to match."""
        self._seek_epoch += 1
        for tp, offset in partitions.items():
            tp = TP(tp.topic, tp.partition)
            self._positions[tp] = offset
            if offset > 0:
                self._read_offset[tp] = offset
            else:
                self._read_offset.pop(tp, None)

    async def position(self, tp: TP) -> int | None:
        """The offset the next fetch reads from."""
        return self._positions.get(TP(tp.topic, tp.partition))

    # -- fetching -------------------------------------------------------------------------

    async def _getmany(
        self, active_partitions: set[TP] | None, timeout: float
    ) -> Mapping[TP, list[Any]]:
        """Read new entries of the active (not paused) partitions.

        Data fetched across a seek is dropped, so a seek always takes effect.
        """
        if not self.flow_active:
            return {}
        wanted = (
            self._assignment if active_partitions is None else active_partitions & self._assignment
        )
        by_stream = {self._stream(tp): tp for tp in wanted if tp in self._positions}
        if not by_stream:
            await asyncio.sleep(min(timeout, self.options.block_ms / 1000 or 0.05))
            return {}
        epoch = self._seek_epoch
        block_ms = int(min(timeout * 1000, self.options.block_ms))
        try:
            records = await streams.read(
                self.client,
                {name: self._positions[tp] for name, tp in by_stream.items()},
                count=self.options.fetch_count,
                block_ms=block_ms if block_ms > 0 else None,
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Redis restarting or unreachable: keep positions, retry on the next fetch.
            self._fetch_failures += 1
            metrics.FETCH_ERRORS.inc()
            if self._fetch_failures == 1:
                log.warning("fetch failed; retrying", error=repr(exc))
            await asyncio.sleep(min(0.05 * 2**self._fetch_failures, 2.0))
            return {}
        if self._fetch_failures:
            log.info("fetching again", failed_attempts=self._fetch_failures)
            self._fetch_failures = 0
        if epoch != self._seek_epoch:
            return {}
        result: dict[TP, list[Any]] = {}
        for record in records:
            tp = by_stream[record.stream]
            result.setdefault(tp, []).append(record)
        for tp, items in result.items():
            next_offset = items[-1].offset + 1
            self._positions[tp] = next_offset
            metrics.FETCHED.labels(tp.topic).inc(len(items))
            if next_offset > self._highwaters.get(tp, 0):
                self._highwaters[tp] = next_offset
        return result

    def _to_message(self, tp: TP, record: Any) -> ConsumerMessage:
        fields: Mapping[bytes, bytes] = record.fields
        key = fields.get(FIELD_KEY) or None
        value = fields.get(FIELD_VALUE)
        raw_headers = fields.get(FIELD_HEADERS)
        return ConsumerMessage(
            tp.topic,
            tp.partition,
            record.offset,
            int(fields.get(FIELD_TIMESTAMP, b"0")) / 1000.0,
            0,
            decode_headers(raw_headers) if raw_headers else [],
            key,
            value,
            None,
            len(key) if key else 0,
            len(value) if value else 0,
            tp,
            generation_id=self.app.consumer_generation_id,
        )

    # -- commits --------------------------------------------------------------------------

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Store committed offsets (next offset to read) for assigned partitions.

        Faust calls this after flushing the producer, so table changelog entries
        of everything up to these offsets are stored before the offsets are. The
        write is fenced by the group lease: a worker that lost it crashes instead.

        Whatever this returns, Faust then records ``offsets`` as committed and drops
        their acks, and offers a partition again only once newer messages of it are
        acked. An offset not stored here is therefore never retried by Faust: after
        the last messages of a partition it would stay uncommitted for good. So a
        Redis error (down, restarting, loading, or a pooled connection the restart
        left dead) is retried here until the offsets are stored.

        Steps:
            1. Keep the offsets of assigned partitions.
            2. Run the fenced commit script; if another worker holds the lease, crash.
            3. On a Redis error, back off and go to 2, until stored or the worker
               stops (not stored at shutdown: the next worker replays from the last
               stored commit, as after a crash; a SIGTERM never waits for Redis).
            4. Publish the committed offsets as metrics.
        """
        mine = {
            (tp.topic, tp.partition): offset
            for tp, offset in offsets.items()
            if tp in self._assignment
        }
        if not mine:
            return False
        failures = 0
        while True:
            try:
                await self.lease.commit(self.client, mine)
                break
            except LeaseLost as exc:
                log.error("group lease lost; stopping", group=self.group, error=str(exc))
                self._lease_held = False
                metrics.LEASE_HELD.set(0)
                await self.crash(exc)
                return False
            except RedisError as exc:
                failures += 1
                if self.should_stop or self.app.should_stop:  # shutting down (or crashed)
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
        for (topic, partition), offset in mine.items():
            metrics.COMMITTED.labels(topic, str(partition)).set(offset)
        return True

    # -- offsets and metadata -------------------------------------------------------------

    def highwater(self, tp: TP) -> int:
        """The highwater seen most recently (refreshed by fetches and a timer)."""
        return self._highwaters.get(TP(tp.topic, tp.partition), 0)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        """The offset the next append will get, per partition."""
        values = await asyncio.gather(
            *(streams.highwater(self.client, self._stream(tp)) for tp in partitions)
        )
        found = {
            TP(tp.topic, tp.partition): value for tp, value in zip(partitions, values, strict=True)
        }
        self._highwaters.update(found)
        for tp, value in found.items():
            metrics.HIGHWATER.labels(tp.topic, str(tp.partition)).set(value)
        return found

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        """The offset of the oldest entry still stored, per partition."""
        values = await asyncio.gather(
            *(streams.earliest_offset(self.client, self._stream(tp)) for tp in partitions)
        )
        return {
            TP(tp.topic, tp.partition): value for tp, value in zip(partitions, values, strict=True)
        }

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
        config: Mapping[str, Any] | None = None,
        timeout: Any = 30.0,
        retention: Any = None,
        compacting: bool | None = None,
        deleting: bool | None = None,
        ensure_created: bool = False,
    ) -> None:
        """Declare a topic (partition count, compaction) in Redis."""
        await self.catalog.declare(topic, partitions, compacting=bool(compacting))

    def verify_event_path(self, now: float, tp: TP) -> None:
        """Warn when a partition has unread or unacked entries but its commit stopped moving.

        Faust's livelock detector calls this every ``broker_commit_interval * 2.5``;
        an agent stuck on one message shows up here as a partition whose committed
        offset has not moved for ``broker_commit_livelock_soft_timeout`` seconds.
        """
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        committed = self._committed_offset.get(tp)
        behind = self._highwaters.get(tp, 0) > (committed or 0)
        last = self._progress.get(tp)
        if last is None or last[0] != committed or not behind:
            self._progress[tp] = (committed, now)
            return
        stalled = now - last[1]
        if stalled > self.commit_livelock_soft_timeout:
            log.warning(
                "partition not progressing",
                topic=tp.topic,
                partition=tp.partition,
                committed=committed,
                highwater=self._highwaters.get(tp),
                stalled_s=round(stalled, 1),
            )
            self._progress[tp] = (committed, now)

    # -- background jobs ------------------------------------------------------------------

    @base.Service.task
    async def _refresh_highwaters(self) -> None:
        while not self.should_stop:
            await self.sleep(5.0)
            if self._assignment:
                try:
                    await self.highwaters(*self._assignment)
                except Exception as exc:
                    log.warning("highwater refresh failed", error=repr(exc))

    @base.Service.task
    async def _keep_lease(self) -> None:
        while not self.should_stop:
            await self.sleep(self.options.lease_ms / 3000)
            if not self._lease_held:
                continue
            try:
                held = await self.lease.renew(self.client)
            except Exception as exc:  # Redis unreachable: the next renewal may succeed
                log.warning("lease renewal failed", error=repr(exc))
                continue
            if not held:
                self._lease_held = False
                metrics.LEASE_HELD.set(0)
                log.error("group lease taken by another worker; stopping", group=self.group)
                await self.crash(LeaseLost(f"lease of group {self.group!r} was taken over"))
                return

    @base.Service.task
    async def _compaction(self) -> None:
        interval = self.options.compact_interval_s
        if not interval:
            return
        while not self.should_stop:
            await self.sleep(interval)
            await self.compact_now()

    async def compact_now(self) -> int:
        """Compact the changelog partitions this worker holds; return entries deleted."""
        deleted = 0
        for tp in sorted(self._assignment):
            meta = self.catalog.meta(tp.topic)
            if meta is None or not meta.compacting:
                continue
            try:
                result = await compact_stream(self.client, self._stream(tp))
            except Exception as exc:
                log.warning("compaction failed", stream=self._stream(tp), error=repr(exc))
                continue
            deleted += result.deleted
            metrics.COMPACTED.labels(tp.topic).inc(result.deleted)
            if result.deleted:
                log.info(
                    "compacted",
                    stream=self._stream(tp),
                    scanned=result.scanned,
                    deleted=result.deleted,
                )
        return deleted
