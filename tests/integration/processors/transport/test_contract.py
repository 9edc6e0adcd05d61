"""The driver's contract with Faust, checked in-process against real Redis.

Producer: real offsets in RecordMetadata, headers and tombstones round-trip,
flush ends under sustained sends, transactions refused. Consumer: reads from a
position, honours paused partitions, drops data fetched across a seek, commits
to Redis and resumes from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
import pytest
import redis.asyncio as aioredis
from faust.exceptions import ImproperlyConfigured, ProducerSendError
from faust.types import TP
from prometheus_client import REGISTRY
from redis.exceptions import ResponseError
from structlog.testing import capture_logs

from mindhit import streams
from mindhit.keys import legacy_offsets_key, offsets_key
from processors.transport.catalog import load_committed
from processors.transport.lease import LeaseLost, PartitionLeases
from processors.transport.options import broker_url
from processors.transport.producer import TransactionsNotSupported
from schema.topics import partition_for, stream_key
from tests.support.servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
async def app(redis_url: str, key_prefix: str) -> AsyncIterator[faust.App]:
    application = faust.App(
        "contract",
        broker=broker_url(redis_url, key_prefix),
        topic_partitions=4,
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
    )
    await application.producer.start()
    yield application
    await application.producer.stop()
    consumer: Any = application.consumer
    await consumer.aclose()


async def test_send_resolves_to_the_real_dense_offset_with_headers_and_tombstones(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    producer = app.producer
    key = b"user-1"
    partition = partition_for(key, 4)
    appended_before = REGISTRY.get_sample_value("mindhit_transport_appended_total", {"topic": "t"})
    first = await producer.send_and_wait("t", key, b"a", None, 1.5, {"trace": b"x"})
    second = await producer.send_and_wait("t", key, None, None, None, None)
    assert (first.partition, first.offset, second.offset) == (partition, 0, 1)
    assert first.timestamp == 1.5
    appended = REGISTRY.get_sample_value("mindhit_transport_appended_total", {"topic": "t"})
    assert appended == (appended_before or 0) + 2

    consumer: Any = app.consumer
    tp = TP("t", partition)
    consumer._assignment = {tp}
    consumer.positions.seek(tp, 0)
    records = await consumer._getmany({tp}, timeout=0.1)
    messages = [consumer._to_message(tp, r) for r in records[tp]]
    assert [(m.offset, m.key, m.value) for m in messages] == [(0, key, b"a"), (1, key, None)]
    assert messages[0].headers == [("trace", b"x")]
    assert messages[0].timestamp == 1.5


async def test_flush_ends_while_sends_keep_coming(app: faust.App) -> None:
    """A flush waits for the sends handed over before it, not for those that keep coming
    after (else, under sustained sends, a flush and the commit after it never end).

    What is promised is that it *ends*, not how fast: its time is that of storing the
    backlog queued before it, which grows with the machine's load (a 2 s bound here was
    missed at 2.6 s on a loaded CI box, with nothing wrong; no flush or commit latency
    is promised anywhere). So the flush is given a bound no honest flush comes near:
    the bug it guards against, waiting for the queue to drain, never ends here, since
    the sender refills the queue (100 sends) while each pipelined write is in flight.
    The sends must really go on during the flushes, and everything sent before a flush
    must be stored when it returns."""
    producer = app.producer
    stop = asyncio.Event()
    sending = asyncio.Event()
    futures: list[asyncio.Future[Any]] = []

    async def sender() -> None:
        while not stop.is_set():
            n = len(futures)
            futures.append(await producer.send("load", b"k%d" % (n % 50), b"v", None, None, None))
            if (n + 1) % 100 == 0:
                sending.set()
                await asyncio.sleep(0)

    task = asyncio.create_task(sender())
    # Flush only once sends flow (a first send on a loaded box, e.g. a fresh cluster
    # client's start-up, may take longer than a fixed warm-up).
    await asyncio.wait_for(sending.wait(), 30)
    await asyncio.sleep(0.3)
    durations = []
    sent_meanwhile = 0
    for _ in range(5):
        before = len(futures)
        begin = time.perf_counter()
        await asyncio.wait_for(producer.flush(), 30)
        durations.append(time.perf_counter() - begin)
        assert all(f.done() and not f.exception() for f in futures[:before])
        sent_meanwhile += len(futures) - before
    stop.set()
    await task
    await producer.flush()
    assert len(futures) > 1000, durations
    assert sent_meanwhile > 0, "no send during the flushes: nothing was tested"


async def test_flush_fails_when_a_message_could_not_be_stored(
    key_prefix: str, tmp_path: Path
) -> None:
    """Offsets are committed right after a flush: a lost table change must stop them."""
    server = PrivateRedis(tmp_path / "redis", appendonly=False)
    server.start()
    application = faust.App(
        "contract-lost",
        broker=broker_url(server.url, key_prefix),
        topic_partitions=4,
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        producer_request_timeout=0.3,
    )
    await application.producer.start()
    try:
        await application.producer.send_and_wait("t", b"k", b"stored", None, None, None)
        server.kill()
        sent = await application.producer.send("t", b"k", b"lost", None, None, None)
        with pytest.raises(ProducerSendError, match="not stored"):
            await application.producer.flush()
        assert sent.done() and sent.exception() is not None
    finally:
        await application.producer.stop()
        server.kill()


async def test_transactions_are_refused_clearly(app: faust.App, redis_url: str) -> None:
    with pytest.raises(TransactionsNotSupported, match="at_least_once"):
        await app.producer.send("t", b"k", b"v", None, None, None, transactional_id="x")
    with pytest.raises(ImproperlyConfigured, match="at_least_once"):
        _ = faust.App(
            "eos", broker=broker_url(redis_url, "x"), processing_guarantee="exactly_once"
        ).transport


async def test_paused_partitions_are_not_fetched_and_seek_drops_inflight_data(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    for partition in (0, 1):
        for i in range(5):
            await streams.append(
                aredis, stream_key(key_prefix, "p", partition), b"%d" % i, key=None, timestamp_ms=1
            )
    consumer: Any = app.consumer
    tp0, tp1 = TP("p", 0), TP("p", 1)
    consumer._assignment = {tp0, tp1}
    consumer.positions.seek(tp0, 0)
    consumer.positions.seek(tp1, 2)

    records = await consumer._getmany({tp1}, timeout=0.1)  # tp0 paused
    assert list(records) == [tp1]
    assert [r.offset for r in records[tp1]] == [2, 3, 4]

    # A seek while a fetch is blocked in XREAD: what it returns is dropped, the seek wins.
    consumer.positions.seek(tp0, 5)
    fetch = asyncio.create_task(consumer._getmany({tp0}, timeout=1.0))
    await asyncio.sleep(0.03)  # the fetch is now waiting for new entries
    await consumer.seek(tp0, 3)
    await streams.append(aredis, stream_key(key_prefix, "p", 0), b"5", key=None, timestamp_ms=1)
    assert await fetch == {}
    records = await consumer._getmany({tp0}, timeout=0.1)
    assert [r.offset for r in records[tp0]] == [3, 4, 5]
    assert await consumer.position(tp0) == 6


async def test_commit_is_stored_in_redis_and_is_where_a_new_consumer_starts(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    for i in range(4):
        await streams.append(
            aredis, stream_key(key_prefix, "c", 2), b"%d" % i, key=None, timestamp_ms=1
        )
    consumer: Any = app.consumer
    tp = TP("c", 2)
    consumer._assignment = {tp}
    assert await consumer.membership.leases.renew(consumer.membership.client, {2}) == {2}
    assert await consumer._commit({tp: 3, TP("c", 1): 9})  # not assigned: ignored
    assert await load_committed(aredis, key_prefix, "contract", partitions=4) == {("c", 2): 3}
    labels = {"topic": "c", "partition": "2"}
    assert REGISTRY.get_sample_value("mindhit_transport_committed_offset", labels) == 3
    assert await consumer.seek_to_committed() == {tp: 3}
    records = await consumer._getmany({tp}, timeout=0.1)
    assert [r.offset for r in records[tp]] == [3]
    assert await consumer.highwaters(tp) == {tp: 4}
    assert await consumer.earliest_offsets(tp) == {tp: 0}


async def test_a_commit_asked_for_while_another_runs_also_commits_what_was_acked_meanwhile(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    """A revoke's (or a stop's) last commit can start while the periodic one is storing:
    Faust's own ``commit`` then waits for that one and returns without committing, so what
    was acked meanwhile would be processed again by the partition's next holder (the CI
    failure of ``test_sigkill_mid_backlog_loses_nothing_and_replays_a_bounded_tail``)."""
    consumer: Any = app.consumer
    tp = TP("c", 2)
    consumer._assignment = {tp}
    assert await consumer.membership.leases.renew(consumer.membership.client, {2}) == {2}
    store = consumer.membership.commit_until_stored
    slow = asyncio.Event()

    async def slow_store(offsets: Any, stopping: Any) -> bool:
        await slow.wait()  # the periodic commit's round trip, still under way
        return bool(await store(offsets, stopping))

    consumer.membership.commit_until_stored = slow_store

    def ack(*offsets: int) -> None:
        consumer._acked[tp].extend(offsets)
        consumer._acked_index[tp].update(offsets)

    ack(0, 1, 2)
    periodic = asyncio.create_task(consumer.commit())
    await asyncio.sleep(0.05)
    ack(3, 4)  # acked while the periodic commit stores offset 3
    last = asyncio.create_task(consumer.commit())
    await asyncio.sleep(0.05)
    slow.set()
    await asyncio.gather(periodic, last)
    assert await load_committed(aredis, key_prefix, "contract", partitions=4) == {("c", 2): 5}


async def test_a_worker_resumes_from_the_one_offsets_hash_of_a_pre_cluster_deployment(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    legacy = legacy_offsets_key(key_prefix, "contract")
    await aredis.hset(legacy, mapping={"c:2": 3, "c:1": 1, "epoch.p2": "e"})
    consumer: Any = app.consumer
    await consumer.membership.join(4)  # moves the old hash into per-partition hashes
    assert not await aredis.exists(legacy)
    assert await aredis.hgetall(offsets_key(key_prefix, "contract", 2)) == {
        b"c:2": b"3",
        b"epoch.p2": b"e",
    }
    tp = TP("c", 2)
    consumer._assignment = {tp}
    assert await consumer.seek_to_committed() == {tp: 3}


async def test_commits_are_fenced_by_each_partitions_lease(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    first = PartitionLeases(key_prefix, "g", "worker-a", 5_000)
    second = PartitionLeases(key_prefix, "g", "worker-b", 5_000)
    assert await first.renew(aredis, {0, 1}) == {0, 1}
    assert await second.renew(aredis, {1, 2}) == {2}
    await first.commit(aredis, {("t", 0): 5, ("u", 0): 3})
    with pytest.raises(LeaseLost, match="worker-a"):
        await second.commit(aredis, {("t", 1): 1, ("t", 2): 4})
    # The partition it holds is stored, the one it does not is not.
    assert await load_committed(aredis, key_prefix, "g", partitions=4) == {
        ("t", 0): 5,
        ("u", 0): 3,
        ("t", 2): 4,
    }
    await first.release(aredis, {1})
    assert await second.renew(aredis, {1}) == {1}
    await second.commit(aredis, {("t", 1): 7})
    assert await load_committed(aredis, key_prefix, "g", partitions=4) == {
        ("t", 0): 5,
        ("u", 0): 3,
        ("t", 1): 7,
        ("t", 2): 4,
    }
    assert await second.holder(aredis, 1) == "worker-b"


async def test_an_expired_lease_can_be_taken_over_and_fences_the_old_holder(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    paused = PartitionLeases(key_prefix, "g", "paused", 300)
    standby = PartitionLeases(key_prefix, "g", "standby", 5_000)
    assert await paused.renew(aredis, {3}) == {3}
    assert await standby.renew(aredis, {3}) == set()
    await asyncio.sleep(0.4)
    assert await standby.renew(aredis, {3}) == {3}  # expired: the new owner takes it
    with pytest.raises(LeaseLost):  # and the old holder can no longer commit
        await paused.commit(aredis, {("t", 3): 1})
    assert await paused.renew(aredis, {3}) == set()
    # Nor append to the partition's table changelog: the append is fenced in the same call.
    stream = stream_key(key_prefix, "table-changelog", 3)
    for member, value in (("standby", b"new"), ("paused", b"stale")):
        pipe = aredis.pipeline(transaction=False)
        streams.queue_append(
            pipe, stream, value, key=b"k", timestamp_ms=1, fence=(paused.key(3), member)
        )
        [outcome] = await pipe.execute(raise_on_error=False)
        if member == "standby":
            assert streams.offset_of(outcome) == 0
        else:
            assert isinstance(outcome, ResponseError) and "FENCED" in str(outcome)
    assert [fields[b"v"] for _, fields in await aredis.xrange(stream)] == [b"new"]


async def test_a_holder_whose_lease_expired_untaken_keeps_it_on_commit(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    """Redis down longer than the lease: nobody took over, so the holder's commit lands."""
    holder = PartitionLeases(key_prefix, "g", "holder", 300)
    standby = PartitionLeases(key_prefix, "g", "standby", 5_000)
    assert await holder.renew(aredis, {0}) == {0}
    await asyncio.sleep(0.4)
    await holder.commit(aredis, {("t", 0): 7})
    assert await load_committed(aredis, key_prefix, "g", partitions=4) == {("t", 0): 7}
    assert await standby.renew(aredis, {0}) == set()  # the commit extended the lease


async def test_a_partition_whose_commit_stops_moving_is_reported(app: faust.App) -> None:
    consumer: Any = app.consumer
    tp = TP("lv", 0)
    app.topics._acking_topics.add("lv")  # as after subscribing to an agent's topic
    consumer.positions.highwaters[tp] = 50
    consumer._committed_offset[tp] = 10
    limit = consumer.commit_livelock_soft_timeout
    with capture_logs() as logs:
        consumer.verify_event_path(1000.0, tp)
        consumer.verify_event_path(1000.0 + limit / 2, tp)
        assert not logs
        consumer.verify_event_path(1000.0 + limit + 1, tp)
    assert [entry["event"] for entry in logs] == ["partition not progressing"]
    # Progress (or having caught up) is not reported.
    consumer._committed_offset[tp] = 50
    with capture_logs() as logs:
        consumer.verify_event_path(5000.0, tp)
        consumer.verify_event_path(5000.0 + limit * 3, tp)
    assert not logs


async def test_a_worker_that_lost_a_partition_it_thinks_it_holds_cannot_emit_to_it(
    app: faust.App, aredis: aioredis.Redis, key_prefix: str
) -> None:
    """A paused worker resumed past its lease still believes it holds the partition: what
    it derived from its stale state must not reach the log (the chaos soak's zombie)."""
    consumer: Any = app.consumer
    member = consumer.ctx.member
    ours = PartitionLeases(key_prefix, "contract", member, 5_000)
    theirs = PartitionLeases(key_prefix, "contract", "new-owner", 5_000)
    assert await ours.renew(aredis, {0}) == {0}
    assert await theirs.renew(aredis, {1}) == {1}
    consumer.membership.held = {0, 1}  # it believes it holds both
    stored = await app.producer.send_and_wait("derived", b"k", b"ok", 0, None, None)
    assert stored.offset == 0
    with pytest.raises(ProducerSendError, match="derived failed"):
        await app.producer.send_and_wait("derived", b"k", b"stale", 1, None, None)
    assert await aredis.xlen(stream_key(key_prefix, "derived", 1)) == 0
    # A partition it does not hold is written as before (no lease to check).
    consumer.membership.held = {0}
    elsewhere = await app.producer.send_and_wait("derived", b"k", b"other", 2, None, None)
    assert elsewhere.offset == 0
