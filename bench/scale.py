"""Benchmark: events/s of a Faust worker group with 1, 2 and 3 members, and a rebalance.

Each member is a real ``faust`` worker subprocess on the redis:// transport whose one
agent decodes raw-topic entries (200 events each) and adds each entry's event count to
a table keyed by user (one changelog append per entry, fenced by the partition lease).
A feeder keeps a backlog in front of the group and trims what it committed, so Redis
memory stays bounded. Throughput is durable progress: committed offsets over the
window. With 3 members, one is then killed (``kill -9``) and ``rebalance_s`` is the time
until every partition commits again (its partitions moved and their tables recovered).

Usage: ``python bench/scale.py --seconds 8 [--partitions 24] [--lease-ms 2000]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.teardown import delete_prefix, stop_processes  # noqa: E402
from bench.transport import EVENTS_PER_ENTRY, make_entries  # noqa: E402
from mindhit import streams  # noqa: E402
from mindhit.groups import read_group  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from processors.transport.catalog import load_committed  # noqa: E402
from processors.transport.options import broker_url  # noqa: E402
from schema.log import decode_raw_entry  # noqa: E402
from schema.topics import partition_for, stream_key  # noqa: E402

GROUP = "bench-scale"


@functools.cache
def used_partitions(partitions: int) -> list[int]:
    """The partitions the benchmark's users land on (the others stay empty)."""
    return sorted({partition_for(key, partitions) for key, _ in make_entries()})


async def committed(client: aioredis.Redis, prefix: str, partitions: int) -> list[int]:
    """The group's committed offset on the raw topic, per partition that gets entries."""
    stored = await load_committed(
        client, prefix, GROUP, [("raw", p) for p in used_partitions(partitions)]
    )
    return [stored.get(("raw", p), 0) for p in used_partitions(partitions)]


async def feeder(client: aioredis.Redis, prefix: str, partitions: int, stop: asyncio.Event) -> None:
    """Keep ~1,000 entries per partition ahead of the group; trim what it committed."""
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(partitions)}
    for key, value in make_entries():
        by_partition[partition_for(key, partitions)].append((key, value))
    written = dict.fromkeys(range(partitions), 0)
    while not stop.is_set():
        offsets = await committed(client, prefix, partitions)
        done = dict(zip(used_partitions(partitions), offsets, strict=True))
        pipe = client.pipeline(transaction=False)
        for p, items in by_partition.items():
            if not items:
                continue
            stream = stream_key(prefix, "raw", p)
            while written[p] - done[p] < 1000:
                key, value = items[written[p] % len(items)]
                streams.queue_append(pipe, stream, value, key=key, timestamp_ms=1)
                written[p] += 1
            if done[p] > 1:
                pipe.xtrim(stream, minid=streams.entry_id(done[p] - 1), approximate=False)
        await pipe.execute()
        await asyncio.sleep(0.05)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, __file__, "_worker"], env=env, stdout=out, stderr=subprocess.STDOUT
    )


async def wait_group(client: aioredis.Redis, prefix: str, members: int, timeout: float) -> None:
    """Until ``members`` members share the partitions in a published generation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = await read_group(client, prefix, GROUP)
        if view is not None and view.assigned and len(view.members) == members:
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the group never had {members} members")


async def run(members: int, args: argparse.Namespace) -> tuple[float, float | None]:
    """Events/s with ``members`` members; with 3, also the rebalance time after a kill -9."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = connect_redis(args.redis_url)
    env = dict(
        os.environ,
        BENCH_BROKER=broker_url(
            args.redis_url, prefix, compact_interval=30, lease_ms=args.lease_ms
        ),
        BENCH_PARTITIONS=str(args.partitions),
        PYTHONPATH=str(ROOT),
    )
    stop = asyncio.Event()
    feed = asyncio.create_task(feeder(client, prefix, args.partitions, stop))
    procs = [
        start_worker(env, Path(args.log_dir) / f"bench-scale-{members}-{i}.log")
        for i in range(members)
    ]
    rebalance: float | None = None
    try:
        await wait_group(client, prefix, members, 120)
        while min(await committed(client, prefix, args.partitions)) == 0:
            await asyncio.sleep(0.2)
        await asyncio.sleep(args.warmup)
        before = sum(await committed(client, prefix, args.partitions))
        began = time.perf_counter()
        await asyncio.sleep(args.seconds)
        after = sum(await committed(client, prefix, args.partitions))
        rate = (after - before) * EVENTS_PER_ENTRY / (time.perf_counter() - began)
        if members == 3:
            at_kill = await committed(client, prefix, args.partitions)
            procs[0].kill()
            killed = time.perf_counter()
            while True:
                now = await committed(client, prefix, args.partitions)
                if all(n > k for n, k in zip(now, at_kill, strict=True)):
                    break
                if time.perf_counter() - killed > 120:
                    raise SystemExit("partitions of the killed member never committed again")
                await asyncio.sleep(0.1)
            rebalance = time.perf_counter() - killed
        return rate, rebalance
    finally:
        stop.set()
        await feed
        stop_processes(procs)
        await delete_prefix(client, prefix)
        await client.aclose()


def worker() -> None:
    """One member: an agent over the raw topic adding each entry's events to a table."""
    import faust

    partitions = int(os.environ["BENCH_PARTITIONS"])
    app = faust.App(
        GROUP,
        broker=os.environ["BENCH_BROKER"],
        topic_partitions=partitions,
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        broker_commit_interval=0.5,
        web_enabled=False,
        autodiscover=False,
    )
    raw = app.topic("raw", partitions=partitions, key_type=bytes, value_type=bytes)
    totals = app.Table("events_per_user", default=int, partitions=partitions)

    @app.agent(raw)
    async def consume(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            entry = decode_raw_entry(value)
            totals[entry.uploads[0].user_id] += sum(len(u.events) for u in entry.uploads)

    from processors.transport.app_config import run_worker

    run_worker(app, loglevel="warn")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--lease-ms", type=int, default=2000, help="the group's session timeout")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--log-dir", default="/tmp")
    args = parser.parse_args()
    rates: dict[int, float] = {}
    rebalance = None
    for members in (1, 2, 3):
        rates[members], moved = await run(members, args)
        rebalance = moved if moved is not None else rebalance
    print(f"{'workers':>7} {'events/s':>10} {'per worker':>10} {'efficiency':>10}")
    for members, rate in rates.items():
        efficiency = rate / (members * rates[1]) if rates[1] else 0.0
        print(f"{members:>7} {rate:>10,.0f} {rate / members:>10,.0f} {efficiency:>10.2f}")
    print(f"rebalance after kill -9 of 1 of 3: {rebalance:.1f}s (lease {args.lease_ms} ms)")
    summary = {f"workers_{m}_events_per_s": round(r) for m, r in rates.items()}
    summary["rebalance_s"] = round(rebalance or 0.0, 1)
    summary["partitions"] = args.partitions
    summary["cpus"] = os.cpu_count() or 0
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_worker"]:
        worker()
    else:
        asyncio.run(main())
