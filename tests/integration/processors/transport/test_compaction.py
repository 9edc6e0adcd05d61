"""Changelog compaction keeps table recovery proportional to keys, not updates."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit import streams
from processors.transport.compaction import compact_stream
from schema.topics import stream_key
from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    wait_committed,
    worker_env,
)

pytestmark = pytest.mark.integration

COUNTER = "tests.integration.processors.transport.counter_app"
CHANGELOG = "counter-counts-changelog"


async def _changelog_entries(client: aioredis.Redis, prefix: str) -> int:
    return sum([await client.xlen(stream_key(prefix, CHANGELOG, p)) for p in range(4)])


def _round(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i}".encode(), str(n).encode()) for i in range(1000)]


@pytest.mark.slow
async def test_ten_rounds_over_1000_keys_recover_from_1000_entries(
    aredis: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    env = worker_env(
        redis_url, key_prefix, "counter", T_COMMIT_INTERVAL="0.5", compact_interval="1"
    )
    worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
    workers.append(worker)
    for n in range(10):
        await produce(aredis, key_prefix, "numbers", _round(n))
    await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    highwaters = [
        await streams.highwater(aredis, stream_key(key_prefix, CHANGELOG, p)) for p in range(4)
    ]
    assert sum(highwaters) == 10_000, "one changelog entry per update"

    deadline = time.monotonic() + 20
    while await _changelog_entries(aredis, key_prefix) > 1000 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await _changelog_entries(aredis, key_prefix) == 1000
    assert worker.stop(signal.SIGTERM) == 0

    # Restart: recovery reads the 1,000 surviving entries and gets every key right.
    worker = Worker(COUNTER, env, tmp_path / "worker2.log").start()
    workers.append(worker)
    await produce(aredis, key_prefix, "numbers", _round(10))
    await wait_committed(aredis, key_prefix, "counter", "numbers", worker)
    state = await table_state(aredis, key_prefix, CHANGELOG)
    assert {json.loads(k): json.loads(v) for k, v in state.items()} == {
        f"k{i}": 11 for i in range(1000)
    }
    assert worker.stop(signal.SIGTERM) == 0


async def test_compaction_keeps_newest_entry_per_key_and_the_highwater(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    stream = stream_key(key_prefix, "t-changelog", 0)
    for round_ in range(3):
        for key in (b"a", b"b", b"c"):
            await streams.append(
                aredis, stream, f"{key.decode()}{round_}".encode(), key=key, timestamp_ms=1
            )
    await streams.append(aredis, stream, None, key=b"b", timestamp_ms=1)  # tombstone

    result = await compact_stream(aredis, stream)

    assert (result.scanned, result.deleted) == (10, 7)
    left = [(streams.offset_of(i), f) for i, f in await aredis.xrange(stream)]
    assert [(o, f[b"k"], f.get(b"v")) for o, f in left] == [
        (6, b"a", b"a2"),
        (8, b"c", b"c2"),
        (9, b"b", None),
    ]
    assert await streams.highwater(aredis, stream) == 10
    # A second pass finds nothing to do.
    assert (await compact_stream(aredis, stream)).deleted == 0
