"""Gateway benchmark: real ``mindhit gateway`` over loopback, driven by wrk.

Two workloads, each measured three ways: closed-loop at saturation for ``--seconds``
(wrk: each connection sends its next request when the last is answered); the
highest constant rate the gateway serves (``max_rate``: open-loop probes of up to
3 s, from the saturation rate down by a fifth until one is answered at ≥ 97% of its
rate with a median within 50 ms, i.e. no queue growing, then halfway back up); then
open-loop for ``--seconds`` at ``--load`` (70%) of that constant-rate maximum
(``bench/openloop.py``: requests on a fixed schedule, latency from the scheduled
send time, so a stall is not hidden by the requests it kept from being sent). The
maximum is taken at a constant rate, not from saturation: at saturation every log
entry carries dozens of uploads, so an upload costs the gateway less CPU there than
at any lower rate, and wrk (C) leaves it more of the machine than the open-loop
client (Python) does; 70% of the closed-loop rate was more than the gateway could
serve at a constant rate.

1. 200-event batches (≈58 KB, no page text) from 32 connections: events/s and
   p50/p99 latency, compared with the same-run raw ceiling (in-process msgspec
   decode of the same body + one XADD per batch); then ``p99_at_70pct_ms``.
2. 1,000 clients sending 1–10-event batches: uploads/s, p99 and events per log
   entry (coalescing) at saturation; then ``small_p99_at_70pct_ms`` and the
   events per entry at that load.

Beside each 70% p99 (the client's, from the scheduled send time) the gateway's own
p99 is given (``server_p99_at_70pct_ms``, ``small_server_p99_at_70pct_ms``: the upper
bound of the ``mindhit_gateway_upload_seconds`` bucket holding it, handler start to
answer) and the open-loop client's event-loop lateness (``open_loop.*.loop_lag_p99_ms``):
a tail the gateway's histogram shows while the client's loop was on time is the
gateway's, not the load generator's.

Before them, one client on one connection sends small uploads back to back
(``single_p50_ms``: an idle gateway answers at once, it does not wait for company),
beside ``GET /healthz`` on one connection (``healthz_p50_ms``, the HTTP floor) and
one Redis ``PING`` (``redis_ping_p50_ms``): an upload costs one Redis round trip
(the append; the session claim only for a session the gateway has not seen as the
uploader's in the last minute) on top of the HTTP one.

It runs a PRIVATE redis-server (so ``redis_bytes_per_event`` is not disturbed
by anyone else), its own PostgreSQL database for the bench's tokens, samples
the gateway's resident memory throughout, and prints the figures with the
machine's load average (the box may be shared); the last line is JSON.
``dedupe_bytes_per_upload`` is what the idempotency state costs per
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
OPEN_LOOP = Path(__file__).with_name("openloop.py")
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


def prepare_database(name: str = BENCH_DB) -> str:
    """Create the bench's database ``name`` afresh (dropping an old one) and migrate it."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
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


def redis_round_trip(redis_port: int, count: int = 500) -> float:
    """Median seconds of one ``PING`` to the bench's Redis (redis-py, one connection)."""
    client = redis.Redis(port=redis_port)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        times.append(time.perf_counter() - started)
    client.close()
    return sorted(times)[count // 2]


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
    get: str = "",
) -> dict[str, Any]:
    """Run wrk with ``ingest_wrk.lua``; return its WRKJSON figures (``get``: GET that path)."""
    env = os.environ | {"MH_BODIES": str(bodies), "MH_TOKENS": str(tokens)}
    if get:
        env["MH_GET"] = get
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(WRK_SCRIPT), url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def open_loop(
    port: int, bodies: Path, tokens: Path, *, rate: float, connections: int, seconds: float
) -> dict[str, Any]:
    """Offer ``rate`` requests/s on a fixed schedule (``openloop.py``); return its figures."""
    out = subprocess.run(
        [sys.executable, str(OPEN_LOOP), "--port", str(port), "--bodies", str(bodies),
         "--tokens", str(tokens), "--rate", f"{rate:.1f}", "--connections", str(connections),
         "--seconds", str(seconds)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return figures


def ok_per_s(run: dict[str, Any]) -> float:
    """Answered requests per second of a wrk run, errors (e.g. 503) left out."""
    return (run["requests"] - run["status_errors"]) / (run["duration_us"] / 1e6)


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def scrape(url: str) -> dict[str, float]:
    """Counters from the gateway's internal metrics listener at ``url`` (``le=…``: the
    cumulative buckets of its upload-latency histogram)."""
    text = httpx.get(f"{url}/metrics").text
    buckets = re.findall(
        r'^mindhit_gateway_upload_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', text, re.MULTILINE
    )
    return {
        "accepted": metric(text, 'mindhit_gateway_events_total{outcome="accepted"}'),
        "entries": metric(text, "mindhit_gateway_log_entries_total"),
        "uploads": metric(text, 'mindhit_gateway_batches_total{outcome="appended"}')
        + metric(text, 'mindhit_gateway_batches_total{outcome="duplicate"}'),
    } | {f"le={le}": float(count) for le, count in buckets}


def server_p99_ms(a: dict[str, float], b: dict[str, float]) -> float | None:
    """The gateway's own p99 upload latency between scrapes ``a`` and ``b``, from its
    histogram (``mindhit_gateway_upload_seconds``: handler start to answer, so neither
    the client nor the time a request waited to be read): the upper bound of the bucket
    holding it, e.g. 50 = between 25 and 50 ms (``None``: above the last bucket)."""
    counts = sorted(
        (float(key[3:]), b[key] - a.get(key, 0.0)) for key in b if key.startswith("le=")
    )
    if not counts or counts[-1][1] <= 0:
        return 0.0
    for bound, count in counts:
        if count >= 0.99 * counts[-1][1]:
            return bound * 1000 if bound != float("inf") else None
    return None


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


def settle(metrics_url: str, *, interval: float = 0.25, limit: float = 10.0) -> dict[str, float]:
    """Wait until the gateway has answered what a run left queued; its counters then.

    wrk stops on time, not when its requests are answered: after a saturated run with
    1,000 connections, up to 1,000 uploads are still queued in the gateway, and an
    open-loop run started at once would measure their draining, not its own rate.
    """
    last = scrape(metrics_url)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = scrape(metrics_url)
        if now["uploads"] == last["uploads"]:
            return now
        last = now
    return last


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sustained(figures: dict[str, Any], share: float = 0.97, p50_ms: float = 50.0) -> bool:
    """Whether an open-loop run was served: answered at ≥ ``share`` of the rate it
    offered, and the median upload within ``p50_ms`` (above the rate it can serve, a
    queue grows for as long as the run lasts and takes the median with it)."""
    return bool(
        figures["ok_per_s"] >= share * figures["offered_per_s"] and figures["p50_ms"] <= p50_ms
    )


def max_constant_rate(
    port: int, files: Path, metrics_url: str, *, bodies: str, tokens: str, connections: int,
    start: float, seconds: float,
) -> tuple[float, list[dict[str, Any]]]:  # fmt: skip
    """The highest constant rate the gateway serves, searched with open-loop runs.

    A closed-loop maximum is not one: at saturation every write carries many uploads
    (coalescing), so an upload costs the gateway less CPU than at any lower rate, and the
    C load generator (wrk) leaves it more of the machine than the open-loop client does.
    So the rate is searched with the client and schedule the 70% run uses: from ``start``
    (the closed-loop rate), down by a fifth until a run is served (:func:`sustained`),
    then halfway back up to the last rate that was not (if that is served too, it is the
    maximum). Returns the rate and the probes.
    """
    probes: list[dict[str, Any]] = []

    def probe(rate: float) -> bool:
        figures = open_loop(
            port, files / bodies, files / tokens, rate=rate, connections=connections,
            seconds=seconds,
        )  # fmt: skip
        settle(metrics_url)  # an overloaded probe leaves a queue behind
        probes.append({k: figures[k] for k in ("offered_per_s", "ok_per_s", "p50_ms", "p99_ms")})
        return sustained(figures)

    rate, failed = start, None
    while not probe(rate) and rate > 10:
        failed, rate = rate, rate * 0.8
    if failed is not None and probe((rate + failed) / 2):
        rate = (rate + failed) / 2
    return rate, probes


def measured_load(
    url: str, files: Path, metrics_url: str, *, bodies: str, tokens: str, connections: int,
    seconds: float, load: float, pid: int,
) -> dict[str, Any]:  # fmt: skip
    """Closed-loop saturation, the maximum constant rate, then open loop at ``load`` of it.

    Returns both runs and the constant-rate maximum with its probes, the events per log
    entry of each run (from the gateway's counters), the gateway's CPU time per answered
    upload at saturation and in the open-loop run, and the share of a core the gateway
    used during the open-loop run.
    """
    port = int(url.rsplit(":", 1)[1])
    before, cpu_before = scrape(metrics_url), cpu_seconds(pid)
    closed = wrk(url, files / bodies, files / tokens, connections=connections, seconds=seconds)
    middle = settle(metrics_url)  # what wrk left queued is answered: not the open loop's
    cpu_middle = cpu_seconds(pid)
    max_rate, probes = max_constant_rate(
        port, files, metrics_url, bodies=bodies, tokens=tokens, connections=connections,
        start=ok_per_s(closed), seconds=min(seconds, 3.0),
    )  # fmt: skip
    rate = max_rate * load
    opening, cpu_opening = scrape(metrics_url), cpu_seconds(pid)
    started = time.perf_counter()
    opened = open_loop(
        port, files / bodies, files / tokens, rate=rate, connections=connections, seconds=seconds
    )
    open_wall = time.perf_counter() - started
    after, cpu_after = scrape(metrics_url), cpu_seconds(pid)
    uploads = middle["uploads"] - before["uploads"]
    uploads_open = after["uploads"] - opening["uploads"]

    def per_entry(a: dict[str, float], b: dict[str, float]) -> float:
        entries = b["entries"] - a["entries"]
        return (b["accepted"] - a["accepted"]) / entries if entries else 0.0

    return {
        "closed": closed,
        "open": opened,
        "max_rate": max_rate,
        "probes": probes,
        "accepted": middle["accepted"] - before["accepted"],
        "accepted_open": after["accepted"] - opening["accepted"],
        "accepted_all": after["accepted"] - before["accepted"],
        "per_entry": per_entry(before, middle),
        "per_entry_open": per_entry(opening, after),
        "server_p99_ms_open": server_p99_ms(opening, after),
        "cpu_us_per_upload": (cpu_middle - cpu_before) / uploads * 1e6 if uploads else 0.0,
        "cpu_us_per_upload_open": (
            (cpu_after - cpu_opening) / uploads_open * 1e6 if uploads_open else 0.0
        ),
        "cpu_share_open": (cpu_after - cpu_opening) / open_wall,
    }


def start_gateway(redis_port: int, database_url: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """A ``mindhit gateway`` process on free ports; its URL and metrics URL once ready."""
    port, metrics_port = free_port(), free_port()
    env = os.environ | {
        "MINDHIT_GATEWAY_METRICS_PORT": str(metrics_port),
        "MINDHIT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MINDHIT_DATABASE_URL": database_url,
        "MINDHIT_KEY_PREFIX": "bench",
        "MINDHIT_LOG_FORMAT": "json",
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
    return gateway, url, f"http://127.0.0.1:{metrics_port}"


def write_inputs(work: Path, tokens: list[str]) -> bytes:
    """Token and body files for wrk and the open-loop client; returns one big body."""
    (work / "tokens_big.txt").write_text("\n".join(tokens[:8]) + "\n")
    (work / "tokens_small.txt").write_text("\n".join(tokens) + "\n")
    (work / "tokens_one.txt").write_text(tokens[0] + "\n")
    big_bodies = [
        upload_body(event_dicts(200, client_id=f"ext-{i}", first_seq=i * 1000)) for i in range(16)
    ]
    small_bodies = [
        upload_body(event_dicts(1 + i % 10, client_id=f"ext-{i}", first_seq=i * 100))
        for i in range(200)
    ]
    (work / "big.txt").write_text("\n".join(template(b) for b in big_bodies) + "\n")
    (work / "small.txt").write_text("\n".join(template(b) for b in small_bodies) + "\n")
    return big_bodies[0]


def report(result: dict[str, Any]) -> None:
    """The figures for people (stderr); the JSON line follows on stdout."""
    r = result
    at = f"at {r['load']:.0%}"  # --load; the JSON keys keep the 70pct names
    console.print(
        f"machine load average {r['load_avg_before']} before, {r['load_avg_after']} after"
        f" ({os.cpu_count()} cores, shared)\n"
        f"one client, one connection: upload p50 {r['single_p50_ms']} ms"
        f" (p99 {r['single_p99_ms']}), GET /healthz p50 {r['healthz_p50_ms']} ms,"
        f" Redis PING p50 {r['redis_ping_p50_ms']} ms\n"
        f"200-event batches at saturation: {r['events_per_s']:,} events/s"
        f" (ceiling {r['ceiling_events_per_s']:,}, ratio {r['ratio']}),"
        f" p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms\n"
        f"  gateway CPU {r['cpu_us_per_upload']:,} us per upload;"
        f" highest constant rate served: {r['max_rate']:,} req/s\n"
        f"  {at} of it: {r['rate_at_70pct']:,} req/s offered, p50 {r['p50_at_70pct_ms']} ms,"
        f" p99 {r['p99_at_70pct_ms']} ms (gateway's own ≤ {r['server_p99_at_70pct_ms']} ms,"
        f" client loop lag p99 {r['open_loop']['big']['loop_lag_p99_ms']} ms),"
        f" gateway CPU {r['cpu_us_per_upload_at_70pct']:,} us"
        f" per upload, {r['cpu_share_at_70pct']} of a core\n"
        f"small batches at saturation: {r['uploads_per_s']:,} uploads/s,"
        f" p50 {r['small_p50_ms']} ms, p99 {r['small_p99_ms']} ms,"
        f" {r['events_per_entry']} events/entry, gateway CPU"
        f" {r['small_cpu_us_per_upload']} us per upload;"
        f" highest constant rate served: {r['small_max_rate']:,} uploads/s\n"
        f"  {at} of it: {r['small_rate_at_70pct']:,} uploads/s offered,"
        f" p50 {r['small_p50_at_70pct_ms']} ms, p99 {r['small_p99_at_70pct_ms']} ms"
        f" (gateway's own ≤ {r['small_server_p99_at_70pct_ms']} ms, client loop lag p99"
        f" {r['open_loop']['small']['loop_lag_p99_ms']} ms),"
        f" {r['events_per_entry_at_70pct']} events/entry, gateway CPU"
        f" {r['small_cpu_us_per_upload_at_70pct']} us per upload,"
        f" {r['small_cpu_share_at_70pct']} of a core\n"
        f"gateway max RSS {r['rss_mb']} MB; Redis {r['redis_bytes_per_event']} bytes/event\n"
        f"idempotency state: {r['dedupe_keys']} keys for {r['acknowledged_uploads']:,}"
        f" uploads, {r['dedupe_bytes_per_upload']} bytes/upload (used_memory freed by"
        f" deleting them; MEMORY USAGE: {r['dedupe_memory_usage_per_upload']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    parser.add_argument("--connections", type=int, default=32, help="connections, workload 1")
    parser.add_argument("--clients", type=int, default=1000, help="clients, workload 2")
    parser.add_argument(
        "--db", default=BENCH_DB, help="database created afresh for the run's tokens"
    )
    parser.add_argument(
        "--load", type=float, default=0.7, help="open-loop rate as a fraction of saturation"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="mindhit-bench-"))
    redis_proc, redis_port = start_redis(work)
    gateway: subprocess.Popen[bytes] | None = None
    try:
        console.log("database and tokens")
        database_url = prepare_database(args.db)
        big_body = write_inputs(work, asyncio.run(make_tokens(database_url, 200)))

        console.log("raw ceiling (in-process decode + one XADD per batch)")
        ceiling = raw_ceiling(big_body, redis_port, min(args.seconds, 3.0))

        gateway, url, metrics_url = start_gateway(redis_port, database_url)
        sampler = RssSampler(gateway.pid)
        sampler.start()
        control = redis.Redis(port=redis_port)

        console.log("warm-up")
        wrk(url, work / "small.txt", work / "tokens_small.txt", connections=64, seconds=1)
        wrk(url, work / "big.txt", work / "tokens_big.txt", connections=8, seconds=1)
        settle(metrics_url)

        console.log("one client, one connection: small uploads back to back; GET /healthz")
        single = wrk(url, work / "small.txt", work / "tokens_one.txt", connections=1, seconds=2)
        healthz = wrk(
            url, work / "small.txt", work / "tokens_one.txt", connections=1, seconds=1,
            get="/healthz",
        )  # fmt: skip
        ping = redis_round_trip(redis_port)

        console.log(f"workload 1: 200-event batches, {args.connections} connections")
        mem_before = int(control.info("memory")["used_memory"])
        big = measured_load(
            url, work, metrics_url, bodies="big.txt", tokens="tokens_big.txt",
            connections=args.connections, seconds=args.seconds, load=args.load, pid=gateway.pid,
        )  # fmt: skip
        mem_after = int(control.info("memory")["used_memory"])
        closed = big["closed"]
        events_per_s = big["accepted"] / (closed["duration_us"] / 1e6)
        # memory grew by the closed run, the probes and the open run; events of all
        events_both = big["accepted_all"]
        bytes_per_event = (mem_after - mem_before) / events_both if events_both else 0.0

        console.log(f"workload 2: {args.clients} clients, 1-10-event batches")
        # its 200 users' tokens were last used before workload 1: cached again first
        wrk(url, work / "small.txt", work / "tokens_small.txt", connections=64, seconds=1)
        settle(metrics_url)
        small = measured_load(
            url, work, metrics_url, bodies="small.txt", tokens="tokens_small.txt",
            connections=args.clients, seconds=args.seconds, load=args.load, pid=gateway.pid,
        )  # fmt: skip
        sampler.stop.set()
        sampler.join()
        dedupe = dedupe_cost(control, "bench")  # every upload of the run, warm-up included
        uploads = scrape(metrics_url)["uploads"]

        wrk_runs = (closed, small["closed"])
        error_kinds = ("status_errors", "connect_errors", "read_errors", "write_errors")
        result = {
            "events_per_s": round(events_per_s),
            "ratio": round(events_per_s / ceiling, 3),
            "ceiling_events_per_s": round(ceiling),
            "p50_ms": round(closed["p50_us"] / 1000, 2),
            "p99_ms": round(closed["p99_us"] / 1000, 2),
            "max_rate": round(big["max_rate"]),
            "rate_at_70pct": round(big["open"]["offered_per_s"]),
            "p50_at_70pct_ms": big["open"]["p50_ms"],
            "p99_at_70pct_ms": big["open"]["p99_ms"],
            "server_p99_at_70pct_ms": big["server_p99_ms_open"],
            "uploads_per_s": round(ok_per_s(small["closed"])),
            "small_p50_ms": round(small["closed"]["p50_us"] / 1000, 2),
            "small_p99_ms": round(small["closed"]["p99_us"] / 1000, 2),
            "events_per_entry": round(small["per_entry"], 1),
            "small_max_rate": round(small["max_rate"]),
            "small_rate_at_70pct": round(small["open"]["offered_per_s"]),
            "small_p50_at_70pct_ms": small["open"]["p50_ms"],
            "small_p99_at_70pct_ms": small["open"]["p99_ms"],
            "small_server_p99_at_70pct_ms": small["server_p99_ms_open"],
            "events_per_entry_at_70pct": round(small["per_entry_open"], 1),
            "cpu_us_per_upload": round(big["cpu_us_per_upload"]),
            "small_cpu_us_per_upload": round(small["cpu_us_per_upload"]),
            "cpu_us_per_upload_at_70pct": round(big["cpu_us_per_upload_open"]),
            "small_cpu_us_per_upload_at_70pct": round(small["cpu_us_per_upload_open"]),
            "cpu_share_at_70pct": round(big["cpu_share_open"], 2),
            "small_cpu_share_at_70pct": round(small["cpu_share_open"], 2),
            "single_p50_ms": round(single["p50_us"] / 1000, 2),
            "single_p99_ms": round(single["p99_us"] / 1000, 2),
            "healthz_p50_ms": round(healthz["p50_us"] / 1000, 2),
            "redis_ping_p50_ms": round(ping * 1000, 3),
            "rss_mb": round(sampler.max_kb / 1024, 1),
            "redis_bytes_per_event": round(bytes_per_event, 1),
            "dedupe_bytes_per_upload": round(dedupe["freed"] / uploads, 2) if uploads else 0.0,
            "dedupe_memory_usage_per_upload": (
                round(dedupe["memory_usage"] / uploads, 2) if uploads else 0.0
            ),
            "dedupe_keys": dedupe["keys"],
            "acknowledged_uploads": round(uploads),
            "errors": {k: sum(run[k] for run in wrk_runs) for k in (*error_kinds, "timeouts")},
            "open_loop": {
                name: {
                    k: run["open"][k]
                    for k in (
                        "statuses",
                        "errors",
                        "send_lag_p99_ms",
                        "loop_lag_p99_ms",
                        "client_cpu_s",
                    )
                }
                | {"max_rate_probes": run["probes"]}
                for name, run in (("big", big), ("small", small))
            },
            "seconds": args.seconds,
            "load": args.load,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "note": "one gateway process; wrk, the open-loop client, redis and the gateway"
            " share the machine",
        }
        report(result)
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
