"""Worker groups with real processes on real Redis: shared partitions, kills, a paused zombie."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.keys import group_state_key, partition_lease_key
from processors.transport.catalog import load_committed
from schema.topics import stream_key
from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    worker_env,
)
from tests.support.waiting import wait_until as _wait

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cluster]

APP = "tests.integration.processors.transport.group_app"
GROUP = "grp"
PARTITIONS = 24
LEASE_MS = 2000
KEYS = 240


def _numbers(start: int, count: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i % KEYS}".encode(), str(i).encode()) for i in range(start, start + count)]


def _expected(total: int) -> dict[str, int]:
    """The table an uninterrupted run leaves: the largest number per key."""
    latest: dict[str, int] = {}
    for i in range(total):
        latest[f"k{i % KEYS}"] = i
    return latest


async def _group(client: aioredis.Redis, prefix: str) -> tuple[int, list[str], list[str]]:
    """The published generation: its number, members and each partition's owner."""
    state = await client.hgetall(group_state_key(prefix, GROUP))
    members = [m for m in state.get(b"view", b"").decode().split("\n") if m]
    raw = state.get(b"assignment")
    owners = json.loads(raw) if raw else []
    return int(state.get(b"generation", b"0")), members, owners


async def _settled(client: aioredis.Redis, prefix: str, size: int) -> bool:
    """``size`` members share the partitions evenly and each holds its partitions' leases."""
    _, members, owners = await _group(client, prefix)
    if len(members) != size or len(owners) != PARTITIONS:
        return False
    shares = sorted(owners.count(m) for m in members)
    if shares[-1] - shares[0] > 1:
        return False
    holders = [
        await client.hget(partition_lease_key(prefix, GROUP, p), "lease.member")
        for p in range(PARTITIONS)
    ]
    return [h.decode() if h else "" for h in holders] == owners


async def _all_committed(client: aioredis.Redis, prefix: str) -> bool:
    committed = {
        p: o
        for (t, p), o in (
            await load_committed(client, prefix, GROUP, partitions=PARTITIONS)
        ).items()
        if t == "numbers"
    }
    for p in range(PARTITIONS):
        highwater = await streams.highwater(client, stream_key(prefix, "numbers", p))
        if committed.get(p, 0) < highwater:
            return False
    return True


async def _table(client: aioredis.Redis, prefix: str) -> dict[str, int]:
    state = await table_state(client, prefix, f"{GROUP}-latest-changelog", PARTITIONS)
    return {json.loads(k): json.loads(v) for k, v in state.items()}


def _start(env: dict[str, str], log: Path, workers: list[Worker]) -> Worker:
    worker = Worker(APP, env, log).start()
    workers.append(worker)
    return worker


async def test_three_workers_share_24_partitions_and_a_killed_ones_move_and_come_back(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    track = f"{key_prefix}:processed"
    env = worker_env(
        redis_url,
        key_prefix,
        GROUP,
        T_PARTITIONS=str(PARTITIONS),
        T_COMMIT_INTERVAL="0.3",
        T_TRACK_URL=redis_url,
        T_TRACK_KEY=track,
        lease_ms=str(LEASE_MS),
    )
    await produce(aredis, key_prefix, "numbers", _numbers(0, 4_000), PARTITIONS)
    trio = [_start(env, tmp_path / f"w{i}.log", workers) for i in range(3)]
    await _wait(lambda: _settled(aredis, key_prefix, 3), "3 members with 8 partitions each", 90)
    _, members, owners = await _group(aredis, key_prefix)
    assert sorted(owners.count(m) for m in members) == [8, 8, 8]
    await _wait(lambda: _all_committed(aredis, key_prefix), "the first backlog committed")

    # kill -9 one member in the middle of a backlog: its 8 partitions move to the others.
    await produce(aredis, key_prefix, "numbers", _numbers(4_000, 4_000), PARTITIONS)
    trio[0].stop(signal.SIGKILL)
    moved_s = await _wait(lambda: _settled(aredis, key_prefix, 2), "2 members with 12 each")
    print(f"partitions moved {moved_s:.1f}s after the kill (lease {LEASE_MS / 1000:.0f}s)")
    assert moved_s < 2 * LEASE_MS / 1000 + 5  # bound: 2 x lease (+ scheduling slack under load)
    await _wait(lambda: _all_committed(aredis, key_prefix), "the backlog committed by the others")
    assert await _table(aredis, key_prefix) == _expected(8_000)

    # Start it again: partitions come back, and processing carries on across the move.
    _start(env, tmp_path / "w0-again.log", workers)
    await _wait(lambda: _settled(aredis, key_prefix, 3), "3 members again", 90)
    await produce(aredis, key_prefix, "numbers", _numbers(8_000, 2_000), PARTITIONS)
    await _wait(lambda: _all_committed(aredis, key_prefix), "the last batch committed")
    assert await _table(aredis, key_prefix) == _expected(10_000)
    processed = await aredis.hgetall(track)
    assert len(processed) == 10_000, "every message was processed"
    for worker in workers:
        if worker.alive():
            assert worker.stop(signal.SIGTERM) == 0, worker.log_tail()


async def test_a_paused_worker_resumed_after_losing_its_partitions_cannot_commit_or_append(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    env = worker_env(
        redis_url,
        key_prefix,
        GROUP,
        T_PARTITIONS=str(PARTITIONS),
        T_COMMIT_INTERVAL="0.3",
        T_SLOW_MS="2",
        lease_ms=str(LEASE_MS),
    )
    await produce(aredis, key_prefix, "numbers", _numbers(0, 6_000), PARTITIONS)
    zombie = _start(env, tmp_path / "zombie.log", workers)
    survivor = _start(env, tmp_path / "survivor.log", workers)
    await _wait(lambda: _settled(aredis, key_prefix, 2), "2 members with 12 each", 90)

    async def some_committed() -> bool:
        return (
            sum((await load_committed(aredis, key_prefix, GROUP, partitions=PARTITIONS)).values())
            >= 1_000
        )

    await _wait(some_committed, "1,000 committed")
    assert zombie.proc is not None
    zombie.proc.send_signal(signal.SIGSTOP)  # paused with messages in flight
    try:
        await _wait(lambda: _settled(aredis, key_prefix, 1), "the survivor holding all 24", 60)
        # Newer numbers for every key: the survivor's table values pass the zombie's.
        await produce(aredis, key_prefix, "numbers", _numbers(6_000, 2_000), PARTITIONS)
        await _wait(lambda: _all_committed(aredis, key_prefix), "everything committed", 90)
    finally:
        zombie.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 60
    while zombie.alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    log = zombie.log_path.read_text(errors="replace")
    assert "FENCED" in log or ("lease" in log and "stopping" in log), zombie.log_tail(80)
    assert not zombie.alive(), "a fenced worker stops"
    await _wait(lambda: _settled(aredis, key_prefix, 1), "the survivor alone again", 60)
    await _wait(lambda: _all_committed(aredis, key_prefix), "everything committed")
    # Nothing the zombie did after its lease expired reached the table or the offsets.
    assert await _table(aredis, key_prefix) == _expected(8_000)
    assert survivor.stop(signal.SIGTERM) == 0, survivor.log_tail()
