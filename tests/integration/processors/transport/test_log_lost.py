"""A real Faust worker stands still when Redis loses the log under its committed offsets.

Redis restarted without persistence loses the streams, the log epochs and the group's
offsets together. The new log's offsets start again at 0: a worker that went on would
skip the new entries below its old positions and read those past them as if nothing
had happened (or, restarted, read the new log from its first entry as a new group).
It must stop instead and say so, as the projector does (see README, "Recovering a lost
log").
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit.keys import epoch_field, offsets_key
from mindhit.lag import collect_lag
from mindhit.log_epoch import epoch_key
from processors.transport.catalog import load_committed
from schema.topics import stream_key
from tests.integration.processors.transport.conftest import (
    Worker,
    counter_messages,
    produce,
    wait_committed,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

COUNTER = "tests.integration.processors.transport.counter_app"
PARTITIONS = 4


async def _processed(aredis: aioredis.Redis, track: str) -> int:
    counts = await aredis.hgetall(track)  # type: ignore[misc]
    return sum(int(v) for v in counts.values())


async def _set_epochs(aredis: aioredis.Redis, prefix: str, epoch: str) -> None:
    for partition in range(PARTITIONS):
        await aredis.set(epoch_key(prefix, partition), epoch)


async def _counted_400(
    aredis: aioredis.Redis, redis_url: str, prefix: str, tmp_path: Path, workers: list[Worker]
) -> tuple[Worker, dict[str, str], dict[int, int]]:
    """A counter worker (its environment) that has committed a 400-message backlog read
    in log epoch ``e1`` on every partition (each message counted in ``prefix:processed``);
    its commits."""
    await _set_epochs(aredis, prefix, "e1")
    await produce(aredis, prefix, "numbers", counter_messages(0, 400, 40))
    env = worker_env(
        redis_url,
        prefix,
        "counter",
        T_COMMIT_INTERVAL="0.2",
        T_TRACK_URL=redis_url,
        T_TRACK_KEY=f"{prefix}:processed",
        lease_ms="1500",
    )
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    return worker, env, await wait_committed(aredis, prefix, "counter", "numbers", worker)


async def _lose_the_log(aredis: aioredis.Redis, prefix: str, keep: str) -> None:
    """What a Redis restarted without persistence leaves of this test's prefix: nothing
    (but the test's own tracking hash)."""
    keys = [k async for k in aredis.scan_iter(match=f"{prefix}:*") if k.decode() != keep]
    for key in keys:
        await aredis.delete(key)


async def _stands_still(
    aredis: aioredis.Redis,
    prefix: str,
    track: str,
    worker: Worker,
    committed: dict[int, int],
    *,
    changelog: int = 0,
) -> None:
    """The worker says the log is lost, then processes nothing more, and nothing it did
    reached the new log: no table changelog entry (``changelog`` in all: those kept),
    no offset committed past the old ones."""
    deadline = time.monotonic() + 10.0
    while "log_lost" not in worker.log_tail(400):
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(0.1)
    processed = await _processed(aredis, track)
    for _ in range(20):  # 4 s: heartbeats, rebalances and fetches go on meanwhile
        assert worker.alive(), worker.log_tail()
        assert await _processed(aredis, track) == processed, worker.log_tail()
        await asyncio.sleep(0.2)
    changelogs = [stream_key(prefix, "counter-counts-changelog", p) for p in range(PARTITIONS)]
    assert sum([await aredis.xlen(c) for c in changelogs]) == changelog, worker.log_tail()
    stored = await load_committed(aredis, prefix, "counter", partitions=PARTITIONS)
    assert {p: o for (t, p), o in stored.items() if t == "numbers"} == committed


async def test_a_worker_stands_still_and_reports_when_redis_lost_the_log(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    track = f"{key_prefix}:processed"
    worker, env, committed = await _counted_400(aredis, redis_url, key_prefix, tmp_path, workers)
    assert sum(committed.values()) == 400 and await _processed(aredis, track) == 400
    for partition in range(PARTITIONS):  # every commit names the log it was read in
        stamp = await aredis.hget(  # type: ignore[misc]
            offsets_key(key_prefix, "counter", partition), epoch_field(partition)
        )
        assert stamp == b"e1"

    # Redis loses everything; the gateway goes on acknowledging uploads into a new log
    # (new epochs), more of them than the worker had read before. A restarted Redis loses
    # a partition's keys at once; deleted here one by one, the worker is frozen meanwhile
    # (else it could find the loss half done and write its offsets back before the test
    # deletes them).
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGSTOP)
    try:
        await _lose_the_log(aredis, key_prefix, keep=track)
        await _set_epochs(aredis, key_prefix, "e2")
    finally:
        worker.proc.send_signal(signal.SIGCONT)
    await produce(aredis, key_prefix, "numbers", counter_messages(400, 800, 40))

    # The running worker stops: it writes nothing into the new log (neither from its
    # old positions nor from the start), its old offsets stay stamped with the old log ...
    await _stands_still(aredis, key_prefix, track, worker, committed)
    # ... and `mindhit lag --json` names the loss under the group's offsets.
    report = await collect_lag(aredis, key_prefix, PARTITIONS)
    lost = [p for p in report.problems if p.consumer == "faust:counter"]
    assert {p.partition for p in lost} == set(range(PARTITIONS)), report.problems
    assert {p.kind for p in lost} == {"epoch_changed"}
    assert all(p.stored_epoch == "e1" and p.current_epoch == "e2" for p in lost)

    # A worker started afresh (the old one stopped) stands still as well.
    assert worker.stop(signal.SIGTERM) == 0
    again = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(again)
    processed = await _processed(aredis, track)
    await _stands_still(aredis, key_prefix, track, again, committed)
    assert await _processed(aredis, track) == processed  # it read nothing at all


async def test_a_worker_stands_still_when_its_streams_fall_behind_its_offsets(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """A failover to a replica that lacked the last entries keeps the log epoch but puts
    the streams behind the committed offsets. The running worker must stop there, and
    not read the entries appended again past its old positions once the streams grew
    past them (skipping those appended below)."""
    track = f"{key_prefix}:processed"
    worker, _, committed = await _counted_400(aredis, redis_url, key_prefix, tmp_path, workers)
    assert await _processed(aredis, track) == 400

    for partition in range(PARTITIONS):  # the streams come back shorter, same epoch
        await aredis.delete(stream_key(key_prefix, "numbers", partition))
    await produce(aredis, key_prefix, "numbers", counter_messages(400, 40, 40))
    deadline = time.monotonic() + 10.0
    while "log_lost" not in worker.log_tail(400):
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(0.1)
    changelog = sum(
        [await aredis.xlen(stream_key(key_prefix, "counter-counts-changelog", p)) for p in range(4)]
    )
    await produce(aredis, key_prefix, "numbers", counter_messages(440, 800, 40))  # grown past them
    await _stands_still(aredis, key_prefix, track, worker, committed, changelog=changelog)
    assert await _processed(aredis, track) == 400
