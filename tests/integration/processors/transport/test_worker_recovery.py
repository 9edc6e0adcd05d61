"""Real Faust workers on the redis:// transport: exactly-once tables, restarts, crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit.keys import LEASE_MEMBER_FIELD, offsets_key
from processors.transport.catalog import load_committed
from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    wait_committed,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTER = "tests.integration.processors.transport.counter_app"
KEYS = 100


def _messages(start: int, count: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i % KEYS}".encode(), str(i).encode()) for i in range(start, start + count)]


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
    await produce(aredis, key_prefix, "numbers", _messages(0, 10_000))
    env = worker_env(redis_url, key_prefix, "counter", T_COMMIT_INTERVAL="0.5")
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    # Commits keep advancing while the table is written for every message (the
    # producer's flush ends under load), rather than only once the backlog is gone.
    progress: list[int] = []
    deadline = time.monotonic() + 60
    while not progress or progress[-1] < 10_000:
        assert worker.alive() and time.monotonic() < deadline, worker.log_tail()
        total = sum((await load_committed(aredis, key_prefix, "counter")).values())
        if not progress or total != progress[-1]:
            progress.append(total)
        await asyncio.sleep(0.05)
    assert len([p for p in progress if 0 < p < 10_000]) >= 2, progress
    committed = await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert sum(committed.values()) == 10_000

    counts = _counts(await table_state(aredis, key_prefix, "counter-counts-changelog"))
    assert counts == {f"k{i}": 100 for i in range(KEYS)}

    assert worker.stop(signal.SIGTERM) == 0

    await produce(aredis, key_prefix, "numbers", _messages(10_000, 10_000))
    worker = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(worker)
    committed = await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert sum(committed.values()) == 20_000
    # 200 each: the table came back from the changelog (not 100) and nothing was read twice.
    counts = _counts(await table_state(aredis, key_prefix, "counter-counts-changelog"))
    assert counts == {f"k{i}": 200 for i in range(KEYS)}
    assert "Recovery" in worker.log_tail(400)
    assert worker.stop(signal.SIGTERM) == 0


async def test_sigkill_mid_backlog_loses_nothing_and_replays_a_bounded_tail(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """Killed mid-backlog, a restarted worker processes every message; replays stay bounded."""
    await produce(aredis, key_prefix, "numbers", _messages(0, 10_000))
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
    committed_at_kill = sum((await load_committed(aredis, key_prefix, "counter")).values())
    processed_at_kill = await aredis.hlen(track_key)
    assert 3_000 <= committed_at_kill < 10_000, "kill must land mid-backlog"

    worker = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(worker)
    await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    assert worker.stop(signal.SIGTERM) == 0

    seen = {k: int(v) for k, v in (await aredis.hgetall(track_key)).items()}
    assert len(seen) == 10_000, "every message was processed"
    replayed = sum(n - 1 for n in seen.values())
    # Only what was processed after the last commit is processed again: at most the
    # messages between the last commit and the kill (a commit interval's worth).
    assert replayed <= processed_at_kill - committed_at_kill + 1
    assert replayed <= 2_500
    total = sum(_counts(await table_state(aredis, key_prefix, "counter-counts-changelog")).values())
    # The table counts every message once, plus replays whose changelog write survived.
    assert 10_000 <= total <= 10_000 + replayed


async def test_second_worker_waits_as_standby_and_takes_over_when_the_first_dies(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    """Two workers with one app id never both consume; the standby finishes the backlog."""
    await produce(aredis, key_prefix, "numbers", _messages(0, 10_000))
    track_key = f"{key_prefix}:processed"
    env = worker_env(
        redis_url,
        key_prefix,
        "counter",
        T_COMMIT_INTERVAL="0.2",
        T_TRACK_URL=redis_url,
        T_TRACK_KEY=track_key,
        lease_ms="2000",
    )
    first = Worker(COUNTER, env, tmp_path / "first.log").start()
    workers.append(first)
    await wait_committed(aredis, key_prefix, "counter", "numbers", first, at_least=1_000)
    holder = await aredis.hget(offsets_key(key_prefix, "counter"), LEASE_MEMBER_FIELD)
    second = Worker(COUNTER, env, tmp_path / "second.log").start()
    workers.append(second)
    deadline = time.monotonic() + 60
    while "waiting for group lease" not in second.log_tail(400):
        assert second.alive() and time.monotonic() < deadline, second.log_tail()
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    assert await aredis.hget(offsets_key(key_prefix, "counter"), LEASE_MEMBER_FIELD) == holder

    first.stop(signal.SIGKILL)
    # The first may have finished the backlog before it died; either way the standby
    # takes the lease once it expires, then owns the group's commits.
    deadline = time.monotonic() + 60
    while await aredis.hget(offsets_key(key_prefix, "counter"), LEASE_MEMBER_FIELD) == holder:
        assert second.alive() and time.monotonic() < deadline, second.log_tail()
        await asyncio.sleep(0.2)
    # New traffic is consumed and committed by the standby, now the active worker.
    await produce(aredis, key_prefix, "numbers", _messages(10_000, 100))
    await wait_committed(aredis, key_prefix, "counter", "numbers", second, timeout=90)
    seen = {k: int(v) for k, v in (await aredis.hgetall(track_key)).items()}
    assert len(seen) == 10_100
    # Only the first worker's uncommitted tail is processed twice, never the whole backlog.
    assert sum(n - 1 for n in seen.values()) <= 2_500
    assert second.stop(signal.SIGTERM) == 0
    # A clean stop releases the lease at once.
    assert await aredis.hget(offsets_key(key_prefix, "counter"), LEASE_MEMBER_FIELD) is None
