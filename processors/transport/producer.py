"""Faust producer that appends to partition streams in pipelined batches.

``send`` never waits for Redis: it queues the message and returns a future. A
single sender task takes everything queued so far and writes it with one
pipelined round trip (``mindhit.streams.queue_append``, dense ``XADD 0-*``), then
resolves each future with the real offset Redis gave the entry (tables keep it).
Hundreds of table-changelog writes therefore cost one round trip, which is what
lets ``flush`` complete under sustained load so commits keep advancing. A table
changelog entry, and any entry for a partition this worker holds, is appended by a Lua
call that first checks this worker still holds the partition's lease (``fence`` of
``mindhit.streams.queue_append``), so a worker that lost the partition can never add to
the table its new owner recovered, nor emit events folded from its stale state.

With ``wait_replicas`` > 0 (``MINDHIT_WAIT_REPLICAS``, the gateway's setting, in the broker
URL) ``flush`` — which Faust calls right before committing offsets — also confirms that
that many replicas hold every append made since the last confirmation (see
:meth:`Producer.flush`), so no offset is committed past derived output or a table change
that a failover to a replica could still lose (:mod:`processors.transport.replication`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from faust.exceptions import ProducerSendError
from faust.transport import base
from faust.types import TP, HeadersArg, RecordMetadata
from mode import Service
from redis.asyncio.client import Pipeline

from mindhit import streams
from mindhit.keys import partition_lease_key
from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE
from processors.transport import metrics
from processors.transport.context import HasGroupContext
from processors.transport.pending import Pending as _Pending
from processors.transport.pending import encode_key, headers_field, resolve
from processors.transport.replication import Replication, Stall
from schema.topics import partition_for, stream_key

__all__ = ["Producer", "TransactionsNotSupported", "encode_key", "headers_field"]

MAX_PIPELINE = 2000

log = get_logger(__name__)


class TransactionsNotSupported(NotImplementedError):
    """Redis Streams have no transactional producer: use at-least-once processing."""

    def __init__(self) -> None:
        super().__init__(
            "the redis:// Faust transport does not support transactions "
            "(processing_guarantee='exactly_once'); use 'at_least_once' and idempotent consumers"
        )


class Producer(base.Producer):
    """Appends Faust messages to ``<prefix>:{p<N>}:<topic>`` streams."""

    #: Wall clock for messages sent without a timestamp (injected in tests).
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._inflight: set[asyncio.Future[RecordMetadata]] = set()
        self._round_robin = itertools.count()
        self._client: aioredis.Redis | None = None
        self._replication: Replication | None = None

    @property
    def _transport(self) -> Any:
        return self.transport

    @property
    def replication(self) -> Replication:
        """What replicas must still confirm before a commit (``wait_replicas``, broker URL)."""
        if self._replication is None:
            options = self._transport.options
            self._replication = Replication(
                lambda: self.client,
                self._transport.catalog.prefix,
                options.wait_replicas,
                options.wait_timeout_ms,
            )
        return self._replication

    @property
    def client(self) -> aioredis.Redis:
        """This producer's Redis client (created on first use)."""
        if self._client is None:
            self._client = self._transport.new_client()
        return self._client

    async def on_stop(self) -> None:
        """Send what is queued, then close the connection."""
        await super().on_stop()
        await self._drain_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[RecordMetadata]:
        """Queue one message; the returned future resolves to its RecordMetadata."""
        if transactional_id:
            raise TransactionsNotSupported()
        catalog = self._transport.catalog
        await catalog.ensure_loaded()
        raw_key = encode_key(key)
        if partition is None:
            partition = self._partition(topic, raw_key)
        elif not 0 <= partition < catalog.partitions(topic):
            raise ProducerSendError(f"partition {partition} out of range for topic {topic!r}")
        timestamp_ms = int((timestamp if timestamp else self.clock()) * 1000)
        future: asyncio.Future[RecordMetadata] = self.loop.create_future()
        self._queue.append(
            _Pending(
                topic,
                partition,
                stream_key(catalog.prefix, topic, partition),
                raw_key,
                value,
                timestamp_ms,
                headers_field(headers),
                future,
            )
        )
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        self._wakeup.set()
        return future

    async def send_and_wait(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> RecordMetadata:
        """Send one message and wait until Redis stored it."""
        future = await self.send(
            topic, key, value, partition, timestamp, headers, transactional_id=transactional_id
        )
        return await future

    async def flush(self) -> None:
        """Wait until everything handed to the producer before this call is stored.

        Steps:
            1. Snapshot the messages in Faust's producer buffer and our own queue.
            2. Wait for exactly those (messages queued later do not extend the wait,
               so a flush — and the commit that follows it — ends under sustained load).
            3. If any of them could not be stored (Redis unreachable for longer than
               ``producer_request_timeout``), raise :class:`ProducerSendError`: Faust
               commits offsets right after a flush, and offsets must never pass a
               table change that was lost. The worker crashes instead; the next one
               replays from the last commit and writes the changes again. The same
               when the producer stopped (or crashed, e.g. on a fenced append) before
               sending them: nobody would, so waiting longer would hang the shutdown.
            4. With ``wait_replicas`` > 0: confirm that many replicas hold every append
               since the last confirmation (:mod:`processors.transport.replication`), even
               when nothing was waited for, retrying until ``producer_request_timeout``; else raise
               :class:`ProducerSendError` too (the same crash and replay). With
               ``wait_replicas`` = 0 this step sends nothing.

        Raises:
            ProducerSendError: a message handed over before this call was not stored.
        """
        waiting: list[asyncio.Future[Any]] = list(self._inflight)
        pending_queue: Any = self.buffer.pending
        waiting.extend(cast(list[asyncio.Future[Any]], list(pending_queue._queue)))
        if waiting:
            results = await self._wait_stored(waiting)
            lost = [
                r
                for r in results
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
            ]
            if lost:
                raise ProducerSendError(
                    f"{len(lost)} message(s) were not stored; not committing past them: {lost[0]}"
                ) from lost[0]
        if self.replication.unconfirmed:
            timeout = float(self.app.conf.producer_request_timeout)
            await self.replication.check(timeout, lambda: bool(self.should_stop))

    async def _wait_stored(self, waiting: list[asyncio.Future[Any]]) -> list[Any]:
        """The outcome of each future in ``waiting``; raise if the producer stops first."""
        gathered = asyncio.gather(*waiting, return_exceptions=True)
        while True:
            done, _ = await asyncio.wait({gathered}, timeout=0.5)
            if done:
                return list(gathered.result())
            if self.should_stop:
                gathered.cancel()
                raise ProducerSendError(
                    "the producer stopped before every message was stored; not committing"
                )

    def key_partition(self, topic: str, key: bytes) -> TP:
        """The partition Faust should use for ``key`` (same hash as the gateway)."""
        return TP(topic, self._partition(topic, encode_key(key)))

    def _partition(self, topic: str, key: bytes | None) -> int:
        partitions = self._transport.catalog.partitions(topic)
        if key:
            return partition_for(key, partitions)
        return next(self._round_robin) % partitions

    async def create_topic(
        self,
        topic: str,
        partitions: int,
        replication: int,
        *,
        compacting: bool | None = None,
        **options: Any,
    ) -> None:
        """Declare a topic (partition count and compaction) in Redis; Kafka-only options ignored."""
        await self._transport.catalog.declare(topic, partitions, compacting=bool(compacting))

    def supports_headers(self) -> bool:
        """Headers are stored in the ``h`` field."""
        return True

    async def begin_transaction(self, transactional_id: str) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    async def commit_transaction(self, transactional_id: str) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    async def abort_transaction(self, transactional_id: str) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    async def stop_transaction(self, transactional_id: str) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    async def maybe_begin_transaction(self, transactional_id: str) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    async def commit_transactions(
        self,
        tid_to_offset_map: Mapping[str, Mapping[TP, int]],
        group_id: str,
        start_new_transaction: bool = True,
    ) -> None:
        """Not supported."""
        raise TransactionsNotSupported()

    @Service.task
    async def _sender(self) -> None:
        while not self.should_stop:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._drain_all()

    async def _drain_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_PIPELINE], self._queue[MAX_PIPELINE:]
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        """Append one batch in a single pipelined round trip and resolve its futures.

        Steps:
            1. Queue one dense ``XADD`` per message on a pipeline and execute it.
            2. If Redis is unreachable, retry the whole batch with backoff for up to
               ``producer_request_timeout`` (at-least-once: a batch cut off mid-way
               may be appended twice, which consumers of our log tolerate).
            3. Resolve each future with the entry's offset, or fail it.
        """
        ids = await self._execute(batch)
        resolve(batch, ids)

    def _queue_one(self, pipe: Pipeline, item: _Pending) -> None:
        """Queue one append, fenced by its partition's lease when it is a table changelog's
        or goes to a partition this worker holds (a worker paused past its lease that still
        believes it holds the partition cannot append what it derived from stale state)."""
        fence: tuple[str, str] | None = None
        if item.topic in self.app.tables.changelog_topics or item.partition in self._held():
            group = str(self.app.conf.id)
            lease = partition_lease_key(self._transport.catalog.prefix, group, item.partition)
            fence = (lease, self._member)
        streams.queue_append(
            pipe,
            item.stream,
            item.value,
            key=item.key,
            timestamp_ms=item.timestamp_ms,
            headers=item.headers,
            fence=fence,
        )

    def _held(self) -> frozenset[int] | set[int]:
        """The partitions this worker's group membership holds (none without a consumer)."""
        consumer = getattr(self.app, "_consumer", None)  # never create one just to ask
        membership = getattr(consumer, "membership", None)
        held: set[int] | None = getattr(membership, "held", None)
        return held if held is not None else frozenset()

    @property
    def _member(self) -> str:
        """This worker's member id in its group (the consumer's)."""
        return cast(HasGroupContext, self.app.consumer).ctx.member

    async def _execute(self, batch: list[_Pending]) -> list[Any]:
        """Steps 1 and 2 of :meth:`_write`: the new entry ids (or the error) per message.

        On Redis Cluster a node that went away (killed master, failover) fails only the
        messages of its pipeline's share, as results, not as a raised error: those are
        sent again (a node's failed share is a suffix of its commands, so each partition
        keeps its order), the others keep their ids.
        """
        stall = Stall(time.monotonic(), float(self.app.conf.producer_request_timeout), "redis")
        deadline = stall.deadline
        attempt = 0
        ids: list[Any] = [None] * len(batch)
        todo = list(range(len(batch)))
        number = self.replication.next_batch()
        markers: set[int] = set()  # partitions whose `written` marker is still to be set
        while True:
            pipe = self.client.pipeline(transaction=False)
            for index in todo:
                self._queue_one(pipe, batch[index])
            marking = self.replication.queue_markers(
                pipe, number, markers, (batch[i].partition for i in todo)
            )
            try:
                results: list[Any] = await pipe.execute(raise_on_error=False)
            except UNREACHABLE as exc:
                results = [exc] * (len(todo) + len(marking))
            except Exception as exc:  # anything else fails the batch (its futures)
                for index in todo:
                    ids[index] = exc
                results, todo, marking = [], [], []
                markers.clear()
            for index, result in zip(todo, results[: len(todo)], strict=True):
                ids[index] = result
            self.replication.settle_markers(markers, marking, results[len(todo) :])
            failed = [i for i in todo if isinstance(ids[i], UNREACHABLE)]
            if (not failed and not markers) or time.monotonic() >= deadline or self.should_stop:
                break
            todo = failed
            attempt += 1
            metrics.APPEND_RETRIES.inc()
            if attempt == 1:
                error = repr(ids[failed[0]])
                log.warning("append failed; retrying", error=error, messages=len(failed))
            stall.note(time.monotonic(), repr(ids[failed[0]]) if failed else "markers")
            await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        if attempt:
            stall.end()
            log.info("append retried", attempts=attempt)
        self.replication.note_written(
            number,
            (
                item.partition
                for item, i in zip(batch, ids, strict=True)
                if not isinstance(i, BaseException)
            ),
        )
        return ids
