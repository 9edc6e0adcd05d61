"""Benchmark: raw batches through the dwell agent's handler, against raw XREAD + decode.

Builds realistic raw entries (200 events each: uploads of 20 events from 10
different users; tab switches, SPA navigations, focus/idle changes, a page
content now and then) for ``--clients`` concurrently active clients, appends
them to a private raw stream, then measures in the same run:

* baseline: ``XREAD`` of the entries + msgspec decode (the floor of any consumer);
* dwell: the exact per-message work of the ``dwell`` Faust agent
  (:meth:`processors.agents.raw.RawHandler.handle_many`: decode, fold per user, content
  store, derived appends to Redis, state save), handed up to
  :data:`~processors.agents.raw.MAX_BATCH` entries per call as the agent hands over
  the entries already waiting in a backlog (:mod:`processors.batching`); the derived
  appends of one call go in one pipelined round trip, as the worker's transport
  producer sends them.

Then it stops every session and checks that finished state leaves memory.
Prints events/s, the ratio dwell/baseline (``ratio``, wall clock; ``cpu_ratio``: the
same in this process's CPU seconds, which a loaded machine skews less, leaving out the
Redis server's own work), where each phase's wall time went (``cpu_share`` and
``baseline_cpu_share``: this process's CPU seconds per wall second, the rest spent
waiting for Redis or for a core; ``redis_cpu_us_per_event`` and
``baseline_redis_cpu_us_per_event``: the Redis server's CPU (``INFO cpu``) per event of
the phase, which counts other clients of a shared Redis too), ``state_bytes_per_client`` (encoded
fold state per active client), the process's resident memory while following all
clients, and a last line of JSON. Faust's own per-message cost is not included
(one message per 200-event entry; see bench/transport.py for the transport).

With ``--faust`` it also runs the real worker (``mindhit processors`` subprocess,
one partition): the warm-up entries make every client active, then the timed
entries are appended and the time until the worker has *committed* them all gives
``faust_events_per_s``; the worker's resident memory is ``faust_worker_rss_mb``.

Usage: ``python bench/processors.py --seconds 5 [--clients 10000] [--faust]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.teardown import delete_prefix  # noqa: E402
from mindhit import streams  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from processors.agents.raw import MAX_BATCH, RawHandler  # noqa: E402
from processors.app import tune_gc  # noqa: E402
from processors.content import ContentStore  # noqa: E402
from processors.state import StateStore  # noqa: E402
from processors.transport.catalog import load_committed  # noqa: E402
from schema.events import (  # noqa: E402
    ClientEvent,
    IdleState,
    PageContent,
    SessionStopped,
    TabActivated,
    TabUpdated,
    WindowFocus,
    text_hash,
)
from schema.log import RawEntry, Upload, decode_raw_entry, encode_raw_entry  # noqa: E402
from schema.topics import RAW_TOPIC, URLS_TOPIC, stream_key  # noqa: E402

UPLOAD_EVENTS = 20
UPLOADS_PER_ENTRY = 10
SITES = [f"https://site{i}.example/articles/{j}" for i in range(50) for j in range(20)]
TEXT = "Readable page text extracted by the content script. " * 40


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Clients:
    """Synthetic extension installs, one per user, each in its own open session."""

    def __init__(self, count: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.count = count
        self.seq = [1] * count
        self.ts = [1_790_000_000_000 + i for i in range(count)]
        self.session = [str(uuid.UUID(int=(1 << 64) + i)) for i in range(count)]
        # Account ids are UUIDs, as the gateway writes them (the dwell handler writes an
        # entry's visits as COPY rows keyed by that UUID; any other id would take the
        # columns fallback, a path no real upload takes).
        self.user = [str(uuid.UUID(int=(2 << 64) + i)) for i in range(count)]
        self.tab = [1] * count
        self.stored: set[str] = set()  # texts the gateway has seen: later uploads send the hash

    def _env(self, c: int) -> dict[str, object]:
        env = {
            "event_id": str(uuid.UUID(int=(self.seq[c] << 32) + c)),
            "client_id": f"client-{c}",
            "session_id": self.session[c],
            "seq": self.seq[c],
            "ts": self.ts[c],
        }
        self.seq[c] += 1
        self.ts[c] += self.rng.randint(200, 60_000)
        return env

    def events(self, c: int, n: int) -> list[ClientEvent]:
        out: list[ClientEvent] = []
        rng = self.rng
        while len(out) < n:
            roll = rng.random()
            if roll < 0.55:
                self.tab[c] = rng.randint(1, 12)
                url = rng.choice(SITES) + ("?utm_source=feed" if roll < 0.1 else "")
                out.append(TabActivated(**self._env(c), tab_id=self.tab[c], window_id=1, url=url))  # type: ignore[arg-type]
            elif roll < 0.75:
                url = rng.choice(SITES) + f"#s{rng.randint(1, 5)}"
                out.append(
                    TabUpdated(
                        **self._env(c), tab_id=self.tab[c], window_id=1, url=url, change="history"
                    )  # type: ignore[arg-type]
                )
            elif roll < 0.85:
                out.append(WindowFocus(**self._env(c), focused=roll < 0.8, window_id=1))  # type: ignore[arg-type]
            elif roll < 0.97:
                out.append(IdleState(**self._env(c), state="idle" if roll < 0.91 else "active"))  # type: ignore[arg-type]
            else:
                url = rng.choice(SITES)  # one content version per page, as for most pages
                text = f"{url}: {TEXT}"
                content_hash = text_hash(text)  # as the extension sends it (checked)
                out.append(
                    PageContent(  # type: ignore[arg-type]
                        **self._env(c),
                        tab_id=self.tab[c],
                        url=url,
                        content_hash=content_hash,
                        # The gateway leaves out a text the store already holds.
                        text="" if content_hash in self.stored else text,
                    )
                )
                self.stored.add(content_hash)
        return out

    def stop(self, c: int) -> list[ClientEvent]:
        return [SessionStopped(**self._env(c))]  # type: ignore[arg-type]


def build_entries(clients: Clients, entries: int, *, stop: bool = False) -> list[bytes]:
    values: list[bytes] = []
    c = 0
    for _ in range(entries):
        uploads = []
        for _ in range(UPLOADS_PER_ENTRY):
            events = clients.stop(c) if stop else clients.events(c, UPLOAD_EVENTS)
            uploads.append(
                Upload(
                    batch_id=str(uuid.uuid4()),
                    user_id=clients.user[c],
                    client_id=f"client-{c}",
                    received_at=0,
                    events=events,
                )
            )
            c = (c + 1) % clients.count
        values.append(encode_raw_entry(RawEntry(uploads=uploads)))
    return values


async def redis_cpu_s(client: aioredis.Redis) -> float:
    """The Redis server's CPU seconds so far (user + system, every client's work)."""
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def fill(client: aioredis.Redis, key: str, values: list[bytes]) -> None:
    for start in range(0, len(values), 500):
        pipe = client.pipeline(transaction=False)
        for value in values[start : start + 500]:
            streams.queue_append(pipe, key, value, key=b"", timestamp_ms=0)
        await pipe.execute()


async def baseline(
    client: aioredis.Redis, key: str, total: int, seconds: float
) -> tuple[int, float, float]:
    """Events, wall seconds and this process's CPU seconds of XREAD + decode."""
    events, offset, started, cpu = 0, 0, time.perf_counter(), time.process_time()
    while offset < total and time.perf_counter() - started < seconds:
        for record in await streams.read(client, {key: offset}, count=100):
            entry = decode_raw_entry(record.value)
            events += sum(len(u.events) for u in entry.uploads)
            offset = record.offset + 1
    return events, time.perf_counter() - started, time.process_time() - cpu


async def dwell(
    client: aioredis.Redis,
    handler: RawHandler,
    key: str,
    total: int,
    seconds: float,
    offset: int = 0,
) -> tuple[int, float, int, float]:
    """Events, wall seconds, the next offset and this process's CPU seconds."""
    events, started, cpu = 0, time.perf_counter(), time.process_time()
    while offset < total and time.perf_counter() - started < seconds:
        records = await streams.read(client, {key: offset}, count=100)
        for start in range(0, len(records), MAX_BATCH):
            batch = records[start : start + MAX_BATCH]
            await handler.handle_many(0, [(r.offset, r.value) for r in batch])
            events += len(batch) * UPLOADS_PER_ENTRY * UPLOAD_EVENTS
            offset = batch[-1].offset + 1
    return events, time.perf_counter() - started, offset, time.process_time() - cpu


class PipelinedEmit:
    """The handler's ``enqueue`` as the worker's transport producer does it: the appends
    queued together (one entry per derived topic and raw entry) go in one pipelined
    round trip, in the order they were queued."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._queued: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def __call__(self, topic: str, partition: int, value: bytes) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((stream_key(self._prefix, topic, partition), value, done))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return done

    async def _send(self) -> None:
        batch, self._queued, self._sender = self._queued, [], None
        pipe = self._client.pipeline(transaction=False)
        for stream, value, _ in batch:
            streams.queue_append(pipe, stream, value, key=b"", timestamp_ms=0)
        try:
            await pipe.execute()
        except Exception as exc:
            for _, _, done in batch:
                done.set_exception(exc)
            return
        for _, _, done in batch:
            done.set_result(None)


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _committed(client: aioredis.Redis, prefix: str, topic: str = RAW_TOPIC) -> int:
    offsets = await load_committed(client, prefix, "processors", [(topic, 0)])
    return offsets.get((topic, 0), 0)


async def faust_phase(
    client: aioredis.Redis, redis_url: str, warm: list[bytes], timed: list[bytes]
) -> dict[str, float]:
    """The real worker: warm every client, then time the commit of ``timed`` entries."""
    prefix = f"bench-procw-{uuid.uuid4().hex[:8]}"
    key = stream_key(prefix, RAW_TOPIC, 0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ)
    env.update(
        MINDHIT_REDIS_URL=redis_url,
        MINDHIT_DATABASE_URL=os.environ.get(
            "MINDHIT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/mindhit"
        ),
        MINDHIT_KEY_PREFIX=prefix,
        MINDHIT_PARTITIONS="1",
        MINDHIT_COMMIT_INTERVAL_S="0.2",
        MINDHIT_LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    await fill(client, key, warm)
    worker = subprocess.Popen(
        [sys.executable, "-m", "mindhit.cli", "processors", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        urls = stream_key(prefix, URLS_TOPIC, 0)
        # Warm-up done: every client folded once and the first enrichments finished.
        while await _committed(client, prefix) < len(warm) or await _committed(
            client, prefix, URLS_TOPIC
        ) < await streams.highwater(client, urls):
            if worker.poll() is not None:
                raise RuntimeError("the worker exited during warm-up")
            await asyncio.sleep(0.05)
        started = time.perf_counter()
        await fill(client, key, timed)
        while await _committed(client, prefix) < len(warm) + len(timed):
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        rss = _proc_rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(30)
        await delete_prefix(client, prefix)
    events = len(timed) * UPLOADS_PER_ENTRY * UPLOAD_EVENTS
    return {"faust_events_per_s": round(events / elapsed), "faust_worker_rss_mb": round(rss, 1)}


async def main(args: argparse.Namespace) -> dict[str, object]:
    client = connect_redis(args.redis_url)
    prefix = f"bench-proc-{uuid.uuid4().hex[:8]}"
    raw_key = stream_key(prefix, RAW_TOPIC, 0)
    try:
        clients = Clients(args.clients)
        warm_entries = -(-args.clients // UPLOADS_PER_ENTRY)  # every client once
        print(f"building {args.entries + warm_entries} entries for {args.clients} clients …")
        values = build_entries(clients, warm_entries + args.entries)
        await fill(client, raw_key, values)
        total = len(values)

        tune_gc()  # as the worker does (``mindhit processors``); for both phases
        server = await redis_cpu_s(client)
        base_events, base_s, base_cpu = await baseline(client, raw_key, total, args.seconds)
        base_server = await redis_cpu_s(client) - server
        base_rate = base_events / base_s

        states = StateStore(client, prefix)
        handler = RawHandler(states, ContentStore(client, prefix), PipelinedEmit(client, prefix))
        rss_before = _rss_mb()
        # Untimed warm-up: every client's first upload (their state is created).
        await dwell(client, handler, raw_key, warm_entries, 600.0)
        server = await redis_cpu_s(client)
        events, elapsed, consumed, cpu = await dwell(
            client, handler, raw_key, total, args.seconds, offset=warm_entries
        )
        server = await redis_cpu_s(client) - server
        rate = events / elapsed
        active = states.users_in_memory
        rss_active = _rss_mb()
        loaded = await states.load(0, clients.user[: min(args.clients, 2000)])
        sizes = [len(raw) for raw in loaded.values() if raw is not None]
        state_bytes = sum(sizes) / max(1, len(sizes))

        stops = build_entries(clients, warm_entries, stop=True)  # seqs continue per client
        await fill(client, raw_key, stops)
        await dwell(client, handler, raw_key, total + len(stops), 600.0, offset=consumed)
        after = states.users_in_memory
        result: dict[str, object] = {
            "events_per_s": round(rate),
            "baseline_events_per_s": round(base_rate),
            "ratio": round(rate / base_rate, 3),
            "cpu_ratio": round((events / cpu) / (base_events / base_cpu), 3),
            "cpu_share": round(cpu / elapsed, 3),
            "baseline_cpu_share": round(base_cpu / base_s, 3),
            "redis_cpu_us_per_event": round(server / events * 1e6, 3),
            "baseline_redis_cpu_us_per_event": round(base_server / base_events * 1e6, 3),
            "entries_timed": consumed - warm_entries,
            "clients": args.clients,
            "active_clients_in_memory": active,
            "state_bytes_per_client": round(state_bytes),
            "rss_mb": round(rss_active, 1),
            "rss_mb_before_fold": round(rss_before, 1),
            "clients_in_memory_after_stop": after,
        }
        print(
            f"dwell agent: {rate:,.0f} events/s  |  XREAD+decode: {base_rate:,.0f} events/s"
            f"  |  ratio {rate / base_rate:.2f} (CPU time: {result['cpu_ratio']})"
        )
        print(
            f"this process's CPU per wall second: dwell {result['cpu_share']}, XREAD+decode "
            f"{result['baseline_cpu_share']}; Redis server CPU per event: dwell "
            f"{result['redis_cpu_us_per_event']} µs, XREAD+decode "
            f"{result['baseline_redis_cpu_us_per_event']} µs"
        )
        print(
            f"{active} active clients in memory, state_bytes_per_client={state_bytes:,.0f}, "
            f"rss={rss_active:.0f} MB; after stopping every session: {after} in memory"
        )
        if args.faust:
            fresh = Clients(args.clients)
            warm = build_entries(fresh, warm_entries)
            timed = build_entries(fresh, args.entries)
            result.update(await faust_phase(client, args.redis_url, warm, timed))
            print(
                f"faust worker: {result['faust_events_per_s']:,} events/s committed, "
                f"rss {result['faust_worker_rss_mb']} MB with {args.clients} active clients"
            )
        return result
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed phase")
    parser.add_argument("--clients", type=int, default=10_000, help="concurrently active clients")
    parser.add_argument("--entries", type=int, default=2_000, help="200-event entries to fold")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--faust", action="store_true", help="also run the real worker")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
