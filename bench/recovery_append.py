"""How long ``mindhit recover`` takes to append the entries it set aside, against the bound.

After Redis lost the log, the gateway goes on accepting uploads in a fresh epoch while
every consumer stands still (nothing is archived, so nothing is trimmed): the raw stream
of each partition grows until ``mindhit recover`` runs, which sets it aside and appends
its entries again (:func:`mindhit.recovery.append_held`). Every cluster pipeline is
bounded (:data:`mindhit.redis_cluster.CALL_TIMEOUT_S`), so this measures how long those
appends take at the sizes such a stream can reach, against a healthy private 3-master
cluster (appendonly with ``appendfsync everysec``, as production runs).

The entries are realistic: the upload bodies of simulated users (``bench/chaos_parts``:
browsing with page texts, sped up, no gateway) each made into one raw entry as the
gateway writes it when it has nothing to coalesce with (one upload per entry: the most
entries for the events). Each size is appended as one pipeline (as recovery did before)
and in chunks (:func:`mindhit.recovery.append_held`), interleaved (``--chunked`` picks
one); each figure has the load average beside it, the longest pipeline's ``execute``
(the bounded part) and how many entries a pipeline given up on appended after its error.
The last line is JSON.

    python bench/recovery_append.py --sizes 10000,50000,100000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis
from redis.crc import key_slot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos_parts.users import Counters, SimUser, now_ms
from mindhit import recovery
from mindhit.corpus import load_pages
from mindhit.redis_client import connect_redis
from mindhit.redis_cluster import ClosedAwarePipeline
from schema.api import EventBatch
from schema.log import (
    FIELD_KEY,
    FIELD_TIMESTAMP,
    FIELD_VALUE,
    RawEntry,
    Upload,
    decode_raw_entry,
    encode_raw_entry,
)
from tests.support.redis_cluster import PrivateRedisCluster


async def sample_entries(users: int, seconds: float, seed: int) -> list[dict[bytes, bytes]]:
    """Raw entries (one upload each) from ``users`` simulated users browsing ``seconds``."""
    bodies: list[tuple[str, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/events":  # a session stopped from the dashboard
            return httpx.Response(200, json={"stopped_at": now_ms()})
        token = request.headers["Authorization"].removeprefix("Bearer ")
        bodies.append((token, request.content))
        return httpx.Response(202, json={"rejected": []})

    pages = load_pages()
    counters = Counters()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://gateway"
    ) as http:
        sims = [
            SimUser(
                f"0190000{i:05d}-0000-7000-8000-000000000000",
                f"user{i}",
                http,
                pages,
                random.Random(f"{seed}-{i}"),
                counters,
                pace=0.02,
            )
            for i in range(users)
        ]
        until = time.monotonic() + seconds
        await asyncio.gather(*(sim.run(until) for sim in sims))
    entries = []
    for token, body in bodies:
        batch = msgspec.json.decode(body, type=EventBatch)
        upload = Upload(
            batch_id=batch.batch_id,
            user_id=token,
            client_id=batch.client_id,
            received_at=now_ms(),
            events=list(batch.events),
        )
        value = encode_raw_entry(RawEntry(uploads=[upload]))
        entries.append(
            {FIELD_KEY: b"", FIELD_VALUE: value, FIELD_TIMESTAMP: str(now_ms()).encode()}
        )
    return entries


def load() -> str:
    """The load averages (1, 5, 15 min), as ``uptime`` shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


PIPELINES: list[float] = []
"""How long each pipeline's ``execute`` took in the current append (the bounded part)."""


def time_pipelines() -> None:
    """Note the duration of every cluster pipeline's ``execute`` in :data:`PIPELINES`."""
    execute = ClosedAwarePipeline.execute

    async def timed(self: ClosedAwarePipeline, *args: Any, **kwargs: Any) -> list[Any]:
        began = time.perf_counter()
        try:
            return await execute(self, *args, **kwargs)
        finally:
            PIPELINES.append(time.perf_counter() - began)

    ClosedAwarePipeline.execute = timed  # type: ignore[method-assign]


async def timed_append(
    client: Any, node: redis.Redis, stream: str, entries: list[dict[bytes, bytes]], chunk: int
) -> dict[str, Any]:
    """Append ``entries`` as recovery does; the time taken, the stream's length and the
    memory its node's dataset grew by."""
    await client.delete(stream)
    before = int(node.info("memory")["used_memory_dataset"])
    PIPELINES.clear()
    began = time.perf_counter()
    try:
        if chunk:
            count = await recovery.append_held(client, stream, entries)
        else:
            count = await one_pipeline(client, stream, entries)
        outcome = "ok"
    except redis.RedisError as error:
        count, outcome = -1, f"{type(error).__name__}: {error}"
    took = time.perf_counter() - began
    length = await client.xlen(stream)
    grown = int(node.info("memory")["used_memory_dataset"]) - before
    settled = await settle(client, stream, length)
    await client.delete(stream)
    return {
        "seconds": round(took, 2),
        "pipelines": len(PIPELINES),
        "longest_pipeline_s": round(max(PIPELINES, default=0.0), 3),
        "count": count,
        "xlen": length,
        "appended_after_the_error": settled - length,
        "redis_mb": round(grown / 1e6, 1),
        "outcome": outcome,
    }


async def settle(client: Any, stream: str, length: int) -> int:
    """The stream's length once it stops growing (for 2 s): a pipeline given up on goes on
    being written (the commands already handed to the connection are sent)."""
    while True:
        await asyncio.sleep(2.0)
        now = int(await client.xlen(stream))
        if now == length:
            return now
        length = now


async def one_pipeline(client: Any, stream: str, entries: list[dict[bytes, bytes]]) -> int:
    """``append_held`` as it was before 2026-12-06: every entry in one pipeline."""
    pipe = client.pipeline(transaction=False)
    for fields in entries:
        pipe.xadd(stream, dict(fields), id="0-*")
    await pipe.execute()
    return len(entries)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--sample-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunked", default="both", choices=["both", "one", "chunked"])
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    time_pipelines()
    sample = await sample_entries(args.users, args.sample_seconds, args.seed)
    value_bytes = sorted(len(e[FIELD_VALUE]) for e in sample)
    events = sum(len(u.events) for e in sample for u in decode_raw_entry(e[FIELD_VALUE]).uploads)
    print(
        f"sample: {len(sample)} entries, value bytes p50 {value_bytes[len(value_bytes) // 2]},"
        f" p90 {value_bytes[len(value_bytes) * 9 // 10]}, max {value_bytes[-1]},"
        f" mean {sum(value_bytes) / len(value_bytes):.0f}; {events / len(sample):.1f} events each",
        flush=True,
    )

    cluster = PrivateRedisCluster(Path(tempfile.mkdtemp(prefix="bench-recovery-")))
    cluster.start()
    results: list[dict[str, Any]] = []
    try:
        for port in cluster.ports:
            node = redis.Redis(port=port)
            node.config_set("appendonly", "yes")
            node.config_set("appendfsync", "everysec")
            node.close()
        time.sleep(1.0)  # the AOF rewrite that turning it on starts
        client = connect_redis(cluster.url)
        stream = "bench-recovery:{p0}:raw"
        node = redis.Redis(port=cluster.owner(key_slot(stream.encode())))
        modes = {"both": [0, 1], "one": [0], "chunked": [1]}[args.chunked]
        for size in sizes:
            entries = [sample[i % len(sample)] for i in range(size)]
            for _ in range(args.rounds):
                for chunk in modes:
                    figure = await timed_append(client, node, stream, entries, chunk)
                    figure.update(
                        size=size,
                        mode="chunked" if chunk else "one pipeline",
                        bytes=sum(len(e[FIELD_VALUE]) for e in entries),
                        load=load(),
                    )
                    print(json.dumps(figure), flush=True)
                    results.append(figure)
        await client.aclose()
        node.close()
    finally:
        cluster.stop()
    print(json.dumps({"results": results, "sample_entries": len(sample)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
