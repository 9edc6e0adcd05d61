"""``mindhit recover`` writes a stream back in pipelines each well within the cluster bound.

After Redis lost the log the gateway goes on accepting uploads while the consumers stand
still, so the raw stream of a partition can hold hundreds of thousands of entries when
recovery sets it aside and appends them again. Every cluster pipeline fails after the
client's ``call_timeout_s`` (12 s) however healthy the cluster: one pipeline of all of
them (300,000 entries took 12.9 s, 1,000,000 timed out; ``bench/recovery_append.py``)
made such a recovery fail on every run. Recovery now sends them in chunks, each after
the one before was answered, so every entry comes back once, in its order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from mindhit import recovery
from mindhit.recovery import ArchivedEntry
from mindhit.redis_client import connect_redis
from mindhit.streams import entry_id, offset_of
from schema.log import FIELD_KEY, FIELD_TIMESTAMP, FIELD_VALUE
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _held(n: int, size: int = 300) -> list[dict[bytes, bytes]]:
    return [
        {FIELD_KEY: b"", FIELD_VALUE: b"%08d" % i + b"x" * size, FIELD_TIMESTAMP: b"%d" % i}
        for i in range(n)
    ]


async def _stream(client: aioredis.Redis, stream: str) -> list[tuple[int, dict[bytes, bytes]]]:
    entries: Any = await client.xrange(stream)
    return [(offset_of(eid), dict(fields)) for eid, fields in entries]


def _count_pipelines(client: aioredis.Redis) -> list[int]:
    """Record how many commands each pipeline ``client`` makes sends."""
    sizes: list[int] = []
    make = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def counted(*a: Any, **k: Any) -> Any:
            sizes.append(len(pipe))
            return await execute(*a, **k)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe

    client.pipeline = pipeline  # type: ignore[method-assign]
    return sizes


async def test_held_entries_come_back_after_the_reach_in_order_in_chunks(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}:{{p3}}:raw"
    held = _held(1_203)
    await recovery.set_reach(aredis, stream, 40)
    sizes = _count_pipelines(aredis)
    assert await recovery.append_held(aredis, stream, held, chunk=100) == 1_203
    assert await _stream(aredis, stream) == [(40 + i, fields) for i, fields in enumerate(held)]
    assert sizes == [100] * 12 + [3]
    fresh = f"{key_prefix}:{{p6}}:raw"  # nothing archived, no checkpoint: from offset 0
    assert await recovery.append_held(aredis, fresh, held[:3]) == 3
    assert await _stream(aredis, fresh) == [(i, fields) for i, fields in enumerate(held[:3])]


async def test_large_entries_are_cut_by_bytes_and_archived_ones_land_at_their_offsets(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}:{{p4}}:raw"
    big = [{**fields, FIELD_VALUE: fields[FIELD_VALUE] * 1024} for fields in _held(10, 1024)]
    archived = [ArchivedEntry(o, 1_000 + o, b"", b"entry %d" % o, None) for o in (0, 2, 3, 7)]
    sizes = _count_pipelines(aredis)
    assert await recovery.write_archived(aredis, stream, archived, chunk=3) == 4
    assert sizes == [3, 1]
    await recovery.set_reach(aredis, stream, 9)
    sizes.clear()  # (a cluster client's EXISTS goes as a pipeline)
    # ~1 MiB each: four fill a 4 MiB chunk (the entry that reaches it is the last sent).
    assert await recovery.append_held(aredis, stream, big) == 10
    assert sizes == [4, 4, 2]
    assert await _stream(aredis, stream) == [
        *(
            (
                e.offset,
                {FIELD_KEY: b"", FIELD_TIMESTAMP: b"%d" % e.timestamp_ms, FIELD_VALUE: e.value},
            )
            for e in archived
        ),
        *((9 + i, fields) for i, fields in enumerate(big)),
    ]


@pytest.mark.slow
async def test_a_stream_too_large_for_one_pipeline_within_the_bound_is_appended_whole(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """The bound made small (1 s) so the test needs 100,000 entries, not 300,000: one
    pipeline of them took ~3-4 s and failed with ``redis.TimeoutError`` (as 300,000 did
    against the 12 s); chunks of 500 take ~20 ms each."""
    cluster = own_cluster()
    client = connect_redis(cluster.url)
    client.call_timeout_s = 1.0  # type: ignore[attr-defined]
    stream = "recovery-chunks:{p0}:raw"
    held = _held(100_000)
    try:
        await recovery.set_reach(client, stream, 7)
        assert await recovery.append_held(client, stream, held) == 100_000
        assert await client.xlen(stream) == 100_000
        first: Any = await client.xrange(stream, count=1)
        last: Any = await client.xrevrange(stream, count=1)
        assert (first[0][0], first[0][1]) == (entry_id(7).encode(), held[0])
        assert (last[0][0], last[0][1]) == (entry_id(7 + 99_999).encode(), held[-1])
    finally:
        await client.aclose()


async def test_an_entry_written_in_between_by_another_write_fails_the_run_loudly(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    """A write still under way from an earlier run (a pipeline given up on at the bound is
    still sent) lands between two chunks: the run stops with an error instead of putting
    the rest after it (out of place) and reporting success; run again, it rebuilds."""
    stream = f"{key_prefix}:{{p5}}:raw"
    held = _held(25)
    for offset, fields in enumerate(held):  # what the lost log's stream held, set aside
        await aredis.xadd(recovery.held_key(stream), fields, id=entry_id(offset))  # type: ignore[arg-type]
    make = aredis.pipeline
    late = {FIELD_KEY: b"", FIELD_VALUE: b"late", FIELD_TIMESTAMP: b"0"}
    sent: list[int] = []

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def with_a_late_write(*a: Any, **k: Any) -> Any:
            sent.append(len(pipe))
            if len(sent) == 2:
                await aredis.xadd(stream, late, id="0-*")  # type: ignore[arg-type]
            return await execute(*a, **k)

        pipe.execute = with_a_late_write  # type: ignore[method-assign]
        return pipe

    for run in ("interrupted", "again"):
        entries = [fields for _, fields in await recovery.set_aside(aredis, stream)]
        assert entries == held
        await recovery.set_reach(aredis, stream, 3)
        if run == "interrupted":
            aredis.pipeline = pipeline  # type: ignore[method-assign]
            with pytest.raises(redis.ResponseError):
                await recovery.append_held(aredis, stream, entries, chunk=10)
            aredis.pipeline = make  # type: ignore[method-assign]
        else:
            assert await recovery.append_held(aredis, stream, entries, chunk=10) == 25
    assert await _stream(aredis, stream) == [(3 + i, fields) for i, fields in enumerate(held)]
