"""Benchmark: Faust on the redis:// transport consuming 200-event batch entries.

Runs a real ``faust worker`` subprocess whose one agent reads raw-topic entries
(each a :class:`schema.log.RawEntry` of 200 events), decodes them with msgspec
and, in ``table`` mode, adds the event count to a table keyed by user (one
table update, so one changelog write, per entry). A feeder keeps a backlog in
front of the worker and trims what it has committed, so Redis memory stays
bounded however long the run. Throughput is measured from committed offsets
(durable progress), and compared with a raw ``XREAD`` + decode loop in the same
run. The worker's resident memory is sampled at the start and end of the window.

Usage: ``python bench/transport.py --seconds 5 [--mode both|stateless|table]``
"""

from __future__ import annotations

import argparse
import asyncio
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
from mindhit import streams  # noqa: E402
from mindhit.offsets import load_committed  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from processors.transport.options import broker_url  # noqa: E402
from schema.events import TabActivated  # noqa: E402
from schema.log import RawEntry, Upload, decode_raw_entry, encode_raw_entry  # noqa: E402
from schema.topics import partition_for, stream_key  # noqa: E402

EVENTS_PER_ENTRY = 200
PARTITIONS = 4
USERS = 64
GROUP = "bench-transport"


def make_entries() -> list[tuple[bytes, bytes]]:
    """One encoded entry per user: ``(user_id, value)``; reused cyclically by the feeder."""
    entries = []
    for u in range(USERS):
        user = f"user-{u:04d}"
        events = [
            TabActivated(
                event_id=str(uuid.UUID(int=u * 1_000_000 + i)),
                client_id=f"client-{u}",
                session_id=str(uuid.UUID(int=u)),
                seq=i,
                ts=1_700_000_000_000 + i * 1500,
                tab_id=i % 9,
                window_id=1,
                url=f"https://example.org/articles/{u}/{i % 37}?ref=feed",
                title=f"An article about topic {i % 37} for reader {u}",
            )
            for i in range(EVENTS_PER_ENTRY)
        ]
        upload = Upload(
            batch_id=str(uuid.UUID(int=u)),
            user_id=user,
            client_id=f"client-{u}",
            received_at=1_700_000_000_000,
            events=list(events),
        )
        entries.append((user.encode(), encode_raw_entry(RawEntry(uploads=[upload]))))
    return entries


async def raw_baseline(
    client: aioredis.Redis, prefix: str, entries: list[tuple[bytes, bytes]]
) -> float:
    """Events/s of a bare XREAD + msgspec decode loop over the same entries."""
    stream = stream_key(prefix, "baseline", 0)
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        key, value = entries[i % len(entries)]
        streams.queue_append(pipe, stream, value, key=key, timestamp_ms=1)
    await pipe.execute()
    events = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 1.5:
        position = 0
        while position < 500:
            records = await streams.read(client, {stream: position}, count=100)
            for record in records:
                events += sum(len(u.events) for u in decode_raw_entry(record.value).uploads)
            position = records[-1].offset + 1
    elapsed = time.perf_counter() - start
    await client.delete(stream)
    return events / elapsed


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def committed_total(client: aioredis.Redis, prefix: str, app_id: str) -> dict[int, int]:
    stored = await load_committed(client, prefix, app_id, PARTITIONS)
    return {partition: offset for (topic, partition), offset in stored.items() if topic == "raw"}


async def feeder(
    client: aioredis.Redis,
    prefix: str,
    app_id: str,
    entries: list[tuple[bytes, bytes]],
    stop: asyncio.Event,
) -> None:
    """Keep ~1,500 entries per partition ahead of the worker; trim what it committed."""
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for key, value in entries:
        by_partition[partition_for(key, PARTITIONS)].append((key, value))
    written = {p: 0 for p in range(PARTITIONS)}
    while not stop.is_set():
        committed = await committed_total(client, prefix, app_id)
        pipe = client.pipeline(transaction=False)
        for p, items in by_partition.items():
            stream = stream_key(prefix, "raw", p)
            done = committed.get(p, 0)
            while written[p] - done < 1500:
                key, value = items[written[p] % len(items)]
                streams.queue_append(pipe, stream, value, key=key, timestamp_ms=1)
                written[p] += 1
            if done > 1:
                pipe.xtrim(stream, minid=streams.entry_id(done - 1), approximate=False)
        await pipe.execute()
        await asyncio.sleep(0.05)


async def run_mode(
    mode: str, args: argparse.Namespace, entries: list[tuple[bytes, bytes]], baseline: float
) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    app_id = f"{GROUP}-{mode}"
    client = connect_redis(args.redis_url)
    env = dict(
        os.environ,
        BENCH_BROKER=broker_url(args.redis_url, prefix, compact_interval=30),
        BENCH_APP_ID=app_id,
        BENCH_MODE=mode,
        PYTHONPATH=str(ROOT),
    )
    log = open(Path(args.log_dir) / f"bench-transport-{mode}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, __file__, "_worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    stop = asyncio.Event()
    feed = asyncio.create_task(feeder(client, prefix, app_id, entries, stop))
    try:
        deadline = time.monotonic() + 60
        while sum((await committed_total(client, prefix, app_id)).values()) == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start; see {log.name}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.warmup)
        start_entries = sum((await committed_total(client, prefix, app_id)).values())
        start_time = time.perf_counter()
        rss_start = rss_mb(proc.pid)
        samples = [rss_start]
        while time.perf_counter() - start_time < args.seconds:
            await asyncio.sleep(min(5.0, args.seconds))
            samples.append(rss_mb(proc.pid))
        end_entries = sum((await committed_total(client, prefix, app_id)).values())
        elapsed = time.perf_counter() - start_time
        rss_end = rss_mb(proc.pid)
        rate = (end_entries - start_entries) * EVENTS_PER_ENTRY / elapsed
        growth = (rss_end - rss_start) / rss_start * 100 if rss_start else 0.0
        target = 100_000 if mode == "stateless" else 50_000
        print(
            f"{mode:9} events/s={rate:,.0f} (target >= {target:,}) "
            f"entries/s={rate / EVENTS_PER_ENTRY:,.0f} ratio_to_raw={rate / baseline:.3f} "
            f"rss_mb={rss_start:.1f}->{rss_end:.1f} ({growth:+.1f}%, max {max(samples):.1f}) "
            f"window_s={elapsed:.1f}",
            flush=True,
        )
        return {
            "events_per_s": round(rate),
            "ratio": round(rate / baseline, 3),
            "rss_mb": round(max(samples), 1),
            "rss_growth_pct": round(growth, 2),
        }
    finally:
        stop.set()
        await feed
        stop_processes([proc])
        await delete_prefix(client, prefix)
        await client.aclose()
        log.close()


def worker() -> None:
    """The benchmarked Faust worker: one agent over the raw topic."""
    import faust

    mode = os.environ["BENCH_MODE"]
    app = faust.App(
        os.environ["BENCH_APP_ID"],
        broker=os.environ["BENCH_BROKER"],
        topic_partitions=PARTITIONS,
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        broker_commit_interval=0.5,
        web_enabled=False,
        autodiscover=False,
    )
    raw = app.topic("raw", partitions=PARTITIONS, key_type=bytes, value_type=bytes)
    totals = (
        app.Table("events_per_user", default=int, partitions=PARTITIONS)
        if mode == "table"
        else None
    )

    @app.agent(raw)
    async def consume(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            entry = decode_raw_entry(value)
            count = sum(len(upload.events) for upload in entry.uploads)
            if totals is not None:
                totals[entry.uploads[0].user_id] += count

    from processors.transport.app_config import run_worker

    run_worker(app, loglevel="warn", tune_gc=os.environ.get("BENCH_GC", "tuned") == "tuned")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per mode")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--mode", choices=("both", "stateless", "table"), default="both")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--log-dir", default="/tmp")
    args = parser.parse_args()
    entries = make_entries()
    client = connect_redis(args.redis_url)
    baseline = await raw_baseline(client, f"bench-{uuid.uuid4().hex[:8]}", entries)
    await client.aclose()
    print(
        f"raw XREAD+decode events/s={baseline:,.0f} (entries of {EVENTS_PER_ENTRY} events)",
        flush=True,
    )
    results = {
        mode: await run_mode(mode, args, entries, baseline)
        for mode in (("stateless", "table") if args.mode == "both" else (args.mode,))
    }
    first = next(iter(results.values()))
    summary: dict[str, object] = {
        "events_per_s": first["events_per_s"],
        "ratio": first["ratio"],
        "raw_events_per_s": round(baseline),
        "rss_mb": max(r["rss_mb"] for r in results.values()),
        "seconds": args.seconds,
    }
    for mode, figures in results.items():
        summary[f"{mode}_events_per_s"] = figures["events_per_s"]
        summary[f"{mode}_ratio"] = figures["ratio"]
        summary[f"{mode}_rss_growth_pct"] = figures["rss_growth_pct"]
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_worker"]:
        worker()
    else:
        asyncio.run(main())
