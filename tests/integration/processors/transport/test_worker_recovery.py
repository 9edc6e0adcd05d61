"""Real Faust workers on the redis:// transport: exactly-once tables, restarts, crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit.keys import LEASE_MEMBER_FIELD, partition_lease_key
from processors.transport.catalog import load_committed
from tests.integration.processors.transport.conftest import (
    Worker,
    counter_messages,
    produce,
    table_state,
    wait_committed,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTER = "tests.integration.processors.transport.counter_app"
KEYS = 100


def _tp(tracked: bytes) -> tuple[str, int]:
    """The topic partition of a tracked ``partition:offset``."""
    return ("numbers", int(tracked.split(b":")[0]))


def _offset(tracked: bytes) -> int:
    """The offset of a tracked ``partition:offset``."""
    return int(tracked.split(b":")[1])


def _counts(state: dict[bytes, bytes]) -> dict[str, int]:
    return {json.loads(k): json.loads(v) for k, v in state.items()}


async def test_table_exactly_once_then_sigterm_restart_resumes(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """10,000 messages on 4 partitions count exactly once; a restart recovers and resumes."""
    await produce(aredis, key_prefix, "numbers", counter_messages(0, 10_000, KEYS))
    env = worker_env(redis_url, key_prefix, "counter", T_COMMIT_INTERVAL="0.5")
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    # Commits keep advancing while the table is written for every message (the
    # producer's flush ends under load), rather than only once the backlog is gone.
    progress: list[int] = []
    deadline = time.monotonic() + 60
    while not progress or progress[-1] < 10_000:
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        total = sum((await load_committed(aredis, key_prefix, "counter", partitions=4)).values())
        if not progress or total != progress[-1]:
            progress.append(total)
        await asyncio.sleep(0.05)
    assert len([p for p in progress if 0 < p < 10_000]) >= 2, progress
    committed = await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert sum(committed.values()) == 10_000

    counts = _counts(await table_state(aredis, key_prefix, "counter-counts-changelog"))
    assert counts == {f"k{i}": 100 for i in range(KEYS)}

    assert worker.stop(signal.SIGTERM) == 0

    await produce(aredis, key_prefix, "numbers", counter_messages(10_000, 10_000, KEYS))
    worker = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(worker)
    committed = await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert sum(committed.values()) == 20_000
    # 200 each: the table came back from the changelog (not 100) and nothing was read twice.
    counts = _counts(await table_state(aredis, key_prefix, "counter-counts-changelog"))
    assert counts == {f"k{i}": 200 for i in range(KEYS)}
    assert "Recovery" in worker.log_tail(400)
    assert worker.stop(signal.SIGTERM) == 0


async def _settled_count(aredis: aioredis.Redis, track_key: str) -> int:
    """How many messages a killed worker tracked, once its last increments (sent before it
    died, still queued in Redis) are counted: the hash has stopped growing."""
    count = await aredis.hlen(track_key)
    while True:
        await asyncio.sleep(0.3)
        settled = await aredis.hlen(track_key)
        if settled == count:
            return count
        count = settled


async def test_sigkill_mid_backlog_loses_nothing_and_replays_a_bounded_tail(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """Killed mid-backlog, a restarted worker processes every message; replays stay bounded."""
    await produce(aredis, key_prefix, "numbers", counter_messages(0, 10_000, KEYS))
    track_key = f"{key_prefix}:processed"
    env = worker_env(
        redis_url,
        key_prefix,
        "counter",
        T_COMMIT_INTERVAL="0.2",
        T_TRACK_URL=redis_url,
        T_TRACK_KEY=track_key,
    )
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    await wait_committed(aredis, key_prefix, "counter", "numbers", worker, at_least=3_000)
    worker.stop(signal.SIGKILL)
    committed = await load_committed(aredis, key_prefix, "counter", partitions=4)
    committed_at_kill = sum(committed.values())
    processed_at_kill = await _settled_count(aredis, track_key)
    tracked_at_kill = set(await aredis.hkeys(track_key))
    assert 3_000 <= committed_at_kill < 10_000, "kill must land mid-backlog"

    worker = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(worker)
    await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert worker.stop(signal.SIGTERM) == 0

    seen = {k: int(v) for k, v in (await aredis.hgetall(track_key)).items()}
    assert len(seen) == 10_000, "every message was processed"
    replayed = sum(n - 1 for n in seen.values())
    # Only messages processed after the last commit before the kill are processed again.
    twice = {k for k, n in seen.items() if n > 1}
    uncommitted = {k for k in tracked_at_kill if _offset(k) >= committed.get(_tp(k), 0)}
    assert twice <= uncommitted, (sorted(twice - uncommitted), committed, worker.log_tail(200))
    # Only what was processed after the last commit is processed again: at most the
    # messages between the last commit and the kill (a commit interval's worth).
    assert replayed <= processed_at_kill - committed_at_kill + 1
    assert replayed <= 2_500
    total = sum(_counts(await table_state(aredis, key_prefix, "counter-counts-changelog")).values())
    # The table counts every message once, plus replays whose changelog write survived.
    assert 10_000 <= total <= 10_000 + replayed


async def test_a_second_worker_shares_the_partitions_and_takes_them_at_once_on_a_clean_stop(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """Two workers with one app id split the partitions; a SIGTERM hands them over at once."""
    await produce(aredis, key_prefix, "numbers", counter_messages(0, 10_000, KEYS))
    track_key = f"{key_prefix}:processed"
    env = worker_env(
        redis_url,
        key_prefix,
        "counter",
        T_COMMIT_INTERVAL="0.2",
        T_TRACK_URL=redis_url,
        T_TRACK_KEY=track_key,
        lease_ms="10000",  # long: a handover faster than this was not waiting for expiry
    )
    first = Worker(COUNTER, env, tmp_path / "first.log").start()
    second = Worker(COUNTER, env, tmp_path / "second.log").start()
    workers += [first, second]

    async def holders() -> list[str | None]:
        values = [
            await aredis.hget(partition_lease_key(key_prefix, "counter", p), LEASE_MEMBER_FIELD)
            for p in range(4)
        ]
        return [v.decode() if v else None for v in values]

    deadline = time.monotonic() + 90
    while len(set(await holders()) - {None}) != 2:
        assert first.alive() and second.alive(), first.log_tail() + second.log_tail()
        assert time.monotonic() < deadline, await holders()
        await asyncio.sleep(0.2)
    assert first.stop(signal.SIGTERM) == 0
    stopped = time.monotonic()
    while len(set(await holders())) != 1 or None in await holders():
        assert second.alive() and time.monotonic() - stopped < 9, await holders()
        await asyncio.sleep(0.1)
    await produce(aredis, key_prefix, "numbers", counter_messages(10_000, 100, KEYS))
    await wait_committed(aredis, key_prefix, "counter", "numbers", second, timeout=90)
    seen = {k: int(v) for k, v in (await aredis.hgetall(track_key)).items()}
    assert len(seen) == 10_100
    # At least once, but a rebalance commits what was acked before it hands a partition
    # over: only what was in flight then (a message or a few per partition) is processed
    # again, not the commit interval's worth (150-280 messages here) Faust's revoke forgot.
    replayed = sum(n - 1 for n in seen.values())
    assert replayed <= 40
    counts = _counts(await table_state(aredis, key_prefix, "counter-counts-changelog"))
    assert 10_100 <= sum(counts.values()) <= 10_100 + replayed
    assert second.stop(signal.SIGTERM) == 0
    assert await holders() == [None] * 4  # a clean stop releases every lease
