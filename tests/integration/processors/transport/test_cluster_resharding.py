"""A worker keeps going, exactly once, while Redis Cluster moves its partitions' slots.

Runs in every mode on a private 3-master cluster (it changes which master serves which
slot, so it must not share the session's cluster). While a counter worker consumes
and a producer appends, the slots of two partitions (their streams, changelogs,
offsets and leases: one hash tag each) and of the group's membership keys move to
another master one key at a time, so the worker meets ``ASK`` and ``TRYAGAIN`` during
the move and ``MOVED`` after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from mindhit.keys import group_members_key
from mindhit.redis_client import connect_redis
from schema.topics import stream_key
from tests.integration.processors.transport.conftest import (
    Worker,
    counter_messages,
    produce,
    table_state,
    wait_committed,
    worker_env,
)
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTER = "tests.integration.processors.transport.counter_app"
PREFIX = "mhreshard"
KEYS = 50
BATCH = 100


class _Producer:
    """Appends the counter app's next messages every 50 ms until stopped (the load that
    keeps arriving while slots move)."""

    def __init__(self, client: aioredis.Redis, first: int = 2_000) -> None:
        self.produced = first
        self._client = client
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            messages = counter_messages(self.produced, BATCH, KEYS)
            await produce(self._client, PREFIX, "numbers", messages)
            self.produced += BATCH
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop appending; :attr:`produced` is then every message appended."""
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def _start_counting(
    cluster: PrivateRedisCluster, client: aioredis.Redis, tmp_path: Path, workers: list[Worker]
) -> Worker:
    """A counter worker on ``cluster`` that has committed at least half a 2,000-message
    backlog (each message it processes counted in ``PREFIX:processed``)."""
    env = worker_env(
        cluster.url,
        PREFIX,
        "counter",
        T_COMMIT_INTERVAL="0.2",
        T_TRACK_URL=cluster.url,
        T_TRACK_KEY=f"{PREFIX}:processed",
    )
    await produce(client, PREFIX, "numbers", counter_messages(0, 2_000, KEYS))
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    await wait_committed(client, PREFIX, "counter", "numbers", worker, at_least=1_000)
    return worker


async def _assert_each_processed_once(
    client: aioredis.Redis, worker: Worker, produced: int
) -> None:
    """Commits reached the end, every message was processed once and counted once, and
    the worker stops cleanly."""
    committed = await wait_committed(client, PREFIX, "counter", "numbers", worker, timeout=30)
    assert sum(committed.values()) == produced
    seen = {k: int(v) for k, v in (await client.hgetall(f"{PREFIX}:processed")).items()}
    assert len(seen) == produced, "every appended message was processed"
    assert {n for n in seen.values()} == {1}, "none was processed twice"
    state = await table_state(client, PREFIX, "counter-counts-changelog")
    counts = {json.loads(k): json.loads(v) for k, v in state.items()}
    assert sum(counts.values()) == produced
    assert worker.stop(signal.SIGTERM) == 0
    await client.aclose()


async def test_slots_moving_mid_run_lose_and_repeat_nothing(
    own_cluster: Callable[..., PrivateRedisCluster], tmp_path: Path, workers: list[Worker]
) -> None:
    """Every appended message is processed once, commits reach the end, the worker lives."""
    cluster = own_cluster()
    client = connect_redis(cluster.url)
    worker = await _start_counting(cluster, client, tmp_path, workers)
    producer = _Producer(client)
    moves = [stream_key(PREFIX, "numbers", p) for p in (0, 1)]
    moves.append(group_members_key(PREFIX, "counter"))
    try:
        for key in moves:
            slot = key_slot(key.encode())
            before = cluster.owner(slot)
            after = next(p for p in cluster.ports if p != before)
            moved = await asyncio.to_thread(cluster.move_slot, slot, after, pause=0.3)
            assert moved >= 1 and cluster.owner(slot) == after
            assert worker.alive(), worker.log_tail()
        await asyncio.sleep(1.0)  # appends and reads after the move: MOVED for old maps
    finally:
        await producer.stop()
    await _assert_each_processed_once(client, worker, producer.produced)


async def test_a_rebalance_emptying_a_master_under_load_loses_and_repeats_nothing(
    own_cluster: Callable[..., PrivateRedisCluster], tmp_path: Path, workers: list[Worker]
) -> None:
    """``redis-cli --cluster rebalance`` with the first master's weight 0 moves all its
    5,461 slots to the others at once (a partition's streams, offsets and leases among
    them), while the worker consumes and a producer appends."""
    cluster = own_cluster()
    client = connect_redis(cluster.url)
    emptied = cluster.ports[0]
    moving = [p for p in range(4) if cluster.owner(key_slot(f"{{p{p}}}".encode())) == emptied]
    assert moving, "a partition lives on the master that is emptied"
    worker = await _start_counting(cluster, client, tmp_path, workers)
    producer = _Producer(client)
    try:
        node_id = redis.Redis(port=emptied).execute_command("CLUSTER", "MYID")
        rebalance = [
            *("redis-cli", "--cluster", "rebalance", f"127.0.0.1:{emptied}"),
            *("--cluster-weight", f"{node_id.decode()}=0"),
        ]
        done = await asyncio.to_thread(
            subprocess.run, rebalance, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert emptied not in cluster.masters() or all(
            cluster.owner(key_slot(f"{{p{p}}}".encode())) != emptied for p in moving
        )
        assert worker.alive(), worker.log_tail()
        await asyncio.sleep(1.0)  # appends and reads after the moves: MOVED for old maps
    finally:
        await producer.stop()
    await _assert_each_processed_once(client, worker, producer.produced)


async def test_a_master_killed_mid_backlog_is_replaced_by_its_replica_and_nothing_is_lost(
    own_cluster: Callable[..., PrivateRedisCluster],
    tmp_path: Path,
    workers: list[Worker],
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
) -> None:
    """Failover: ``kill -9`` of the master serving partition 0 while the worker appends
    changelog entries to every partition; its replica takes over within about a second."""
    cluster = own_cluster(replicas=1, node_timeout_ms=1000)
    client = connect_redis(cluster.url)
    try:
        # What the worker processed is counted outside the cluster that fails over.
        track_key = f"{key_prefix}:processed"
        env = worker_env(
            cluster.url,
            PREFIX,
            "counter",
            T_COMMIT_INTERVAL="0.2",
            T_TRACK_URL=redis_url,
            T_TRACK_KEY=track_key,
        )
        # A key per message: a changelog entry lost is a key missing from the table.
        await produce(client, PREFIX, "numbers", counter_messages(0, 20_000, 21_000))
        worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
        workers.append(worker)
        await wait_committed(client, PREFIX, "counter", "numbers", worker, at_least=3_000)
        slot = key_slot(stream_key(PREFIX, "numbers", 0).encode())
        master = cluster.owner(slot)
        cluster.processes[cluster.ports.index(master)].kill()
        deadline = asyncio.get_running_loop().time() + 20
        while cluster.owner_or_none(slot) in (None, master):
            assert asyncio.get_running_loop().time() < deadline, "no failover"
            await asyncio.sleep(0.2)
        await produce(client, PREFIX, "numbers", counter_messages(20_000, 1_000, 21_000))
        committed = await wait_committed(client, PREFIX, "counter", "numbers", worker, timeout=40)
        assert sum(committed.values()) == 21_000
        seen = {k: int(v) for k, v in (await aredis.hgetall(track_key)).items()}
        assert len(seen) == 21_000, "every message was processed"
        assert {n for n in seen.values()} == {1}, "none was processed twice"
        state = await table_state(client, PREFIX, "counter-counts-changelog")
        counts = {json.loads(k): json.loads(v) for k, v in state.items()}
        assert counts == {f"k{i}": 1 for i in range(21_000)}, "the changelog has every update"
        assert worker.alive(), worker.log_tail()
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        await client.aclose()
