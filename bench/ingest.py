"""Gateway benchmark: real ``mindhit gateway`` over loopback, driven by wrk.

Two workloads, each for ``--seconds``:

1. 200-event batches (≈58 KB, no page text) from 32 connections: events/s and
   p50/p99 latency, compared with the same-run raw ceiling (in-process msgspec
   decode of the same body + one XADD per batch).
2. 1,000 concurrent clients sending 1–10-event batches: uploads/s, p99, and
   events per log entry (coalescing).

It runs a PRIVATE redis-server (so ``redis_bytes_per_event`` is not disturbed
by anyone else), its own PostgreSQL database for the bench's tokens, samples
the gateway's resident memory throughout, and prints the figures; the last line
is JSON. ``dedupe_bytes_per_upload`` is what the idempotency state costs per
acknowledged upload over the whole run: the drop in Redis ``used_memory`` when its keys
are deleted at the end (``dedupe_memory_usage_per_upload``: the same from ``MEMORY
USAGE``, which leaves out the keyspace's own entries). Needs ``wrk`` (``apt-get install wrk``).

    python bench/ingest.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import redis
import redis.asyncio as aioredis
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mindhit.accounts import create_token, create_user
from mindhit.db import apply_migrations
from mindhit.streams import append
from schema.api import EventBatch
from schema.ids import uuid7
from schema.log import RawEntry, Upload, encode_raw_entry
from tests.unit.ingest.factories import event_dicts, upload_body

console = Console(stderr=True)
WRK_SCRIPT = Path(__file__).with_name("ingest_wrk.lua")
PG_ADMIN = os.environ.get(
    "MINDHIT_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DB = "mindhit_bench_ingest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("private redis-server did not start")


def prepare_database() -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + BENCH_DB
    apply_migrations(url)
    return url


async def make_tokens(database_url: str, users: int) -> list[str]:
    tokens: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for i in range(users):
            user = await create_user(conn, f"bench-{i}-{uuid7()}@example.com")
            tokens.append((await create_token(conn, user.user_id, "bench"))[1])
    return tokens


def template(body: bytes) -> str:
    """The body after its batch id value (see ingest_wrk.lua)."""
    text = body.decode()
    match = re.match(r'^\{"batch_id":"[0-9a-f-]{36}', text)
    assert match, text[:60]
    return text[match.end() :]


def raw_ceiling(body: bytes, redis_port: int, seconds: float, concurrency: int = 16) -> float:
    """Events/s of msgspec decode + one XADD per batch, in-process, on the same body.

    ``concurrency`` appends are in flight at once (as in the gateway), so the
    figure is a throughput ceiling rather than one round trip after another.
    """
    decoder = msgspec.json.Decoder(EventBatch)

    async def run() -> float:
        client = aioredis.Redis(port=redis_port, max_connections=concurrency)
        stream = "bench-ceiling:{p0}:raw"
        events = 0
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal events
            while time.perf_counter() - started < seconds:
                batch = decoder.decode(body)
                upload = Upload(
                    batch_id=batch.batch_id, user_id="u", client_id=batch.client_id,
                    received_at=0, events=batch.events,
                )  # fmt: skip
                value = encode_raw_entry(RawEntry(uploads=[upload]))
                await append(client, stream, value, key=None, timestamp_ms=0)
                events += len(batch.events)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await client.delete(stream)
        await client.aclose()
        return events / elapsed

    return asyncio.run(run())


class RssSampler(threading.Thread):
    """Samples a process's resident memory every 100 ms; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.max_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self.stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.max_kb = max(self.max_kb, int(line.split()[1]))
            except OSError:
                return
            self.stop.wait(0.1)


def wrk(
    url: str,
    bodies: Path,
    tokens: Path,
    *,
    connections: int,
    seconds: float,
    delay_ms: float = 0.0,
) -> dict[str, Any]:
    """Run wrk with ``ingest_wrk.lua``; return its WRKJSON figures."""
    env = os.environ | {
        "MH_BODIES": str(bodies),
        "MH_TOKENS": str(tokens),
        "MH_DELAY_MS": str(round(delay_ms)),
    }
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(WRK_SCRIPT), url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def scrape(url: str) -> dict[str, float]:
    """Counters from the gateway's internal metrics listener at ``url``."""
    text = httpx.get(f"{url}/metrics").text
    return {
        "accepted": metric(text, 'mindhit_gateway_events_total{outcome="accepted"}'),
        "entries": metric(text, "mindhit_gateway_log_entries_total"),
        "uploads": metric(text, 'mindhit_gateway_batches_total{outcome="appended"}')
        + metric(text, 'mindhit_gateway_batches_total{outcome="duplicate"}'),
    }


def dedupe_cost(control: redis.Redis, prefix: str) -> dict[str, float]:
    """What the idempotency state costs in Redis, measured two ways, at the end of a run.

    ``memory_usage``: ``MEMORY USAGE`` summed over the state keys (``<prefix>:{pN}:idem:*``,
    and any per-upload ``:batch:`` key an older gateway left); ``freed``: how much
    ``used_memory`` drops when those keys are deleted, which also counts the keyspace's
    dict and expiry entries that ``MEMORY USAGE`` leaves out. Deletes the keys.
    """
    keys = [
        key
        for pattern in (f"{prefix}:*:idem:*", f"{prefix}:*:batch:*")
        for key in control.scan_iter(match=pattern, count=1000)
    ]
    usage = sum(int(control.memory_usage(key, samples=0) or 0) for key in keys)
    before = int(control.info("memory")["used_memory"])
    for start in range(0, len(keys), 500):
        control.delete(*keys[start : start + 500])
    freed = before - int(control.info("memory")["used_memory"])
    return {"keys": len(keys), "memory_usage": usage, "freed": freed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each workload")
    parser.add_argument("--connections", type=int, default=32, help="connections, workload 1")
    parser.add_argument("--clients", type=int, default=1000, help="clients, workload 2")
    parser.add_argument(
        "--rate", type=float, default=5000.0, help="uploads/s the clients offer, workload 2"
    )
    parser.add_argument(
        "--linger-ms",
        type=float,
        default=15.0,
        help="MINDHIT_COALESCE_LINGER_MS of the gateway under test (the default setting)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="mindhit-bench-"))
    redis_proc, redis_port = start_redis(work)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        console.log("database and tokens")
        database_url = prepare_database()
        tokens = asyncio.run(make_tokens(database_url, 200))
        (work / "tokens_big.txt").write_text("\n".join(tokens[:8]) + "\n")
        (work / "tokens_small.txt").write_text("\n".join(tokens) + "\n")
        big_bodies = [
            upload_body(event_dicts(200, client_id=f"ext-{i}", first_seq=i * 1000))
            for i in range(16)
        ]
        small_bodies = [
            upload_body(event_dicts(1 + i % 10, client_id=f"ext-{i}", first_seq=i * 100))
            for i in range(200)
        ]
        (work / "big.txt").write_text("\n".join(template(b) for b in big_bodies) + "\n")
        (work / "small.txt").write_text("\n".join(template(b) for b in small_bodies) + "\n")

        console.log("raw ceiling (in-process decode + one XADD per batch)")
        ceiling = raw_ceiling(big_bodies[0], redis_port, min(args.seconds, 3.0))

        port, metrics_port = free_port(), free_port()
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        env = os.environ | {
            "MINDHIT_GATEWAY_METRICS_PORT": str(metrics_port),
            "MINDHIT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "MINDHIT_DATABASE_URL": database_url,
            "MINDHIT_KEY_PREFIX": "bench",
            "MINDHIT_LOG_FORMAT": "json",
            "MINDHIT_COALESCE_LINGER_MS": str(args.linger_ms),
            # the bench measures throughput, not the per-user quotas
            "MINDHIT_QUOTA_REQUESTS_PER_S": "0",
            "MINDHIT_QUOTA_BYTES_PER_S": "0",
        }
        gateway = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", "gateway", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        sampler = RssSampler(gateway.pid)
        sampler.start()
        control = redis.Redis(port=redis_port)

        console.log("warm-up")
        wrk(url, work / "small.txt", work / "tokens_small.txt", connections=64, seconds=1)
        wrk(url, work / "big.txt", work / "tokens_big.txt", connections=8, seconds=1)

        console.log(
            f"workload 1: 200-event batches, {args.connections} connections, {args.seconds:g} s"
        )
        before, mem_before = scrape(metrics_url), int(control.info("memory")["used_memory"])
        big = wrk(
            url,
            work / "big.txt",
            work / "tokens_big.txt",
            connections=args.connections,
            seconds=args.seconds,
        )
        after, mem_after = scrape(metrics_url), int(control.info("memory")["used_memory"])
        big_events = after["accepted"] - before["accepted"]
        events_per_s = big_events / (big["duration_us"] / 1e6)
        bytes_per_event = (mem_after - mem_before) / big_events if big_events else 0.0

        console.log(f"workload 2: {args.clients} clients, 1-10-event batches, {args.seconds:g} s")
        before = scrape(metrics_url)
        small = wrk(
            url,
            work / "small.txt",
            work / "tokens_small.txt",
            connections=args.clients,
            seconds=args.seconds,
            delay_ms=args.clients * 1000 / args.rate,
        )
        after = scrape(metrics_url)
        entries = after["entries"] - before["entries"]
        events_per_entry = (after["accepted"] - before["accepted"]) / entries if entries else 0.0
        sampler.stop.set()
        sampler.join()
        dedupe = dedupe_cost(control, "bench")  # every upload of the run, warm-up included
        uploads = after["uploads"]

        result = {
            "events_per_s": round(events_per_s),
            "ratio": round(events_per_s / ceiling, 3),
            "ceiling_events_per_s": round(ceiling),
            "p50_ms": round(big["p50_us"] / 1000, 2),
            "p99_ms": round(big["p99_us"] / 1000, 2),
            "uploads_per_s": round(small["requests"] / (small["duration_us"] / 1e6)),
            "small_p50_ms": round(small["p50_us"] / 1000, 2),
            "small_p99_ms": round(small["p99_us"] / 1000, 2),
            "events_per_entry": round(events_per_entry, 1),
            "rss_mb": round(sampler.max_kb / 1024, 1),
            "redis_bytes_per_event": round(bytes_per_event, 1),
            "dedupe_bytes_per_upload": round(dedupe["freed"] / uploads, 2) if uploads else 0.0,
            "dedupe_memory_usage_per_upload": (
                round(dedupe["memory_usage"] / uploads, 2) if uploads else 0.0
            ),
            "dedupe_keys": dedupe["keys"],
            "acknowledged_uploads": round(uploads),
            "errors": {
                k: big[k] + small[k]
                for k in (
                    "status_errors",
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "timeouts",
                )
            },
            "seconds": args.seconds,
            "offered_uploads_per_s": args.rate,
            "linger_ms": args.linger_ms,
            "note": "one gateway process; wrk, redis and the gateway share the machine",
        }
        r = result
        console.print(
            f"200-event batches: {r['events_per_s']:,} events/s"
            f" (ceiling {r['ceiling_events_per_s']:,}, ratio {r['ratio']}),"
            f" p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms\n"
            f"small batches: {r['uploads_per_s']:,} uploads/s, p99 {r['small_p99_ms']} ms,"
            f" {r['events_per_entry']} events/entry\n"
            f"gateway max RSS {r['rss_mb']} MB; Redis {r['redis_bytes_per_event']} bytes/event\n"
            f"idempotency state: {r['dedupe_keys']} keys for {r['acknowledged_uploads']:,}"
            f" uploads, {r['dedupe_bytes_per_upload']} bytes/upload (used_memory freed by"
            f" deleting them; MEMORY USAGE: {r['dedupe_memory_usage_per_upload']})"
        )
        print(json.dumps(result))
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(10)
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
