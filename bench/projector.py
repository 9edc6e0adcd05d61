"""Projector benchmark: fold rate vs. raw COPY, replay rate and replay memory.

Three measurements against the real Redis and PostgreSQL (own database
``mindhit_bench_projector``, or ``MINDHIT_BENCH_DB``; own key prefix, cleaned up afterwards):

1. Fold: ``--visits`` VisitClosed events (200 per stream entry) are folded into
   ``page_visits`` by the real consumer (COPY + merge + the overview's pending changes +
   checkpoint per turn); compared with a plain binary COPY of the same rows into an
   identical table in the same run, in the order they were appended. ``ratio`` is by the
   clock; ``cpu_ratio`` (when PostgreSQL runs on this machine) by CPU seconds of this
   process and its PostgreSQL backend, which a loaded machine skews less;
   ``*_backend_cpu_s`` / ``*_process_cpu_s`` split them. These are the visits fold
   alone: the overview's rollups are drained afterwards by the drainer's code
   (``overview_drain_*``: its rows/s of changes, its seconds and CPU), and
   ``ratio_with_overview`` / ``cpu_ratio_with_overview`` compare fold + drain of the
   same visits with the raw COPY (the work the fold alone did before the rollups left
   its transaction). ``ratio_all_rows`` and ``cpu_ratio_all_rows`` compare fold + drain
   with a raw COPY of every row they leave: the same visits COPY plus a binary COPY of
   the rollup rows (``rollup_rows``: the overview's rollups and ``page_titles``) into
   identically indexed empty tables. ``ratio`` stays the issue's bar; read it beside
   ``ratio_with_overview``. The visits are written as the processors write them (one
   ``VisitRows`` of COPY rows per entry); ``--format columns`` writes one
   ``VisitsClosed`` of columns per entry and ``--format events`` 200 ``VisitClosed``
   instead, as earlier builds did (the log and archive still hold such entries, and the
   fold reads every shape).
2. Replay: ``--raw-events`` raw client events (200 per upload) are archived, then
   ``mindhit replay --projection sessions`` runs as a child process; events/s and
   its peak resident memory (``rss_mb``) are reported. Run it with a larger
   ``--raw-events`` to see that memory does not grow with the log.
3. ``--rederive N``: a browsing log of about N raw events (sessions of tab
   switches with page text, 48 users) is folded and archived, then
   ``mindhit replay`` and ``mindhit replay --rederive`` (the processors' handlers
   again, offline AI provider) run over it as child processes, the rederive twice:
   cold (every page version enriched, as after switching provider) and warm
   (enrichments cached, as after changing the idle threshold; mind maps are built
   again). Raw events/s of each, the warm/re-fold ratio and peak resident memory
   are reported. Re-deriving is bound by the AI provider, not by the log.
4. ``--crash``: the crash-then-resume check with the issue's 200,000-event load
   (kill -9 the projector at random points, restart, compare tables row by row
   with an uninterrupted run).

    python bench/projector.py --visits 100000 --raw-events 200000
    python bench/projector.py --rederive 100000
    python bench/projector.py --crash

The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
import redis.asyncio as aioredis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.support.teardown import delete_prefix  # noqa: E402
from mindhit import streams  # noqa: E402
from mindhit.db import apply_migrations  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from mindhit.settings import Settings  # noqa: E402
from mindhit.visit_rows import as_rows  # noqa: E402
from projector.archive import Archiver  # noqa: E402
from projector.consumer import ProjectionConsumer  # noqa: E402
from projector.overview_drainer import drain_all  # noqa: E402
from projector.projections import PROJECTIONS  # noqa: E402
from projector.synthetic import synth_log, write_log  # noqa: E402
from schema.derived import VisitClosed  # noqa: E402
from schema.events import (  # noqa: E402
    ClientEvent,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
)
from schema.ids import deterministic_id  # noqa: E402
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry, encode_raw_entry  # noqa: E402
from schema.topics import RAW_TOPIC, VISITS_TOPIC, stream_key  # noqa: E402
from schema.visits import columnar  # noqa: E402

ADMIN = os.environ.get(
    "MINDHIT_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("MINDHIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DB = os.environ.get("MINDHIT_BENCH_DB", "mindhit_bench_projector")
TABLES = (
    "sessions, urls, page_texts, page_visits, mindmap_graphs, projection_checkpoints,"
    " erased_users, erasure_purges, event_log, derivations, derived_log"
)
BASE = 1_764_000_000_000


def fresh_db(name: str = DB) -> str:
    """The URL of database ``name``, dropped and created again, with the migrations applied."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    apply_migrations(url)
    return url


def visit_entries(n: int, partitions: int, shape: str = "rows") -> list[tuple[str, bytes, int]]:
    """(partition key, value, visits) of n visits, 200 per entry, 64 users; each entry's
    visits as one ``VisitRows`` (``rows``: COPY rows, what the processors write), one
    ``VisitsClosed`` (``columns``) or one ``VisitClosed`` per visit (``events``), as
    earlier builds wrote them."""
    out = []
    users = [deterministic_id("bench-user", i) for i in range(64)]
    for start in range(0, n, 200):
        user = users[(start // 200) % 64]
        session = deterministic_id("bench-session", user, start // 20_000)
        events = [
            VisitClosed(
                user_id=user, visit_id=deterministic_id("v", i), client_id="c", session_id=session,
                tab_id=1, url=f"https://example.org/p/{i % 5000}", url_hash=f"h{i % 5000}",
                domain="example.org", title=f"Page {i % 5000}", start_ts=BASE + i * 1000,
                end_ts=BASE + i * 1000 + 900, dwell_ms=900, opened_seq=i, end_reason="switch",
            )
            for i in range(start, min(n, start + 200))
        ]  # fmt: skip
        shaped: list[Any] = list(events)
        if shape == "columns":
            shaped = columnar(events)
        elif shape == "rows":
            shaped = as_rows(events)
        entry = DerivedEntry(events=shaped)
        out.append((user, encode_derived_entry(entry), len(events)))
    return out


def raw_entries(n: int) -> list[tuple[str, bytes, int]]:
    """(user, value, events) of n raw tab events, 200 per upload, 64 users, many sessions."""
    out = []
    users = [deterministic_id("bench-user", i) for i in range(64)]
    for start in range(0, n, 200):
        user = users[(start // 200) % 64]
        session = deterministic_id("bench-session", user, start // 10_000)
        events = [
            TabActivated(
                event_id=str(uuid.UUID(int=i + 1)), client_id="c", session_id=session, seq=i,
                ts=BASE + i * 100, tab_id=1, window_id=1, url=f"https://example.org/p/{i % 5000}",
                title="t",
            )
            for i in range(start, min(n, start + 200))
        ]  # fmt: skip
        upload = Upload(
            batch_id=str(uuid.UUID(int=start + 1)),
            user_id=user,
            client_id="c",
            received_at=BASE,
            events=events,
        )  # type: ignore[arg-type]
        out.append((user, encode_raw_entry(RawEntry(uploads=[upload])), len(events)))
    return out


async def append_all(
    redis: aioredis.Redis, settings: Settings, topic: str, items: list[tuple[str, bytes, int]]
) -> None:
    from schema.topics import partition_for

    pipe = redis.pipeline(transaction=False)
    for i, (key, value, _) in enumerate(items):
        stream = stream_key(settings.key_prefix, topic, partition_for(key, settings.partitions))
        streams.queue_append(pipe, stream, value, key=key.encode(), timestamp_ms=BASE)
        if i % 500 == 499:
            await pipe.execute()
    await pipe.execute()


visit_entries_cache: list[tuple[str, bytes, int]] = []


async def run_until_caught_up(consumer: ProjectionConsumer, entries: int) -> float:
    """Run the real (pipelined) projection loop until it committed ``entries``; seconds."""
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(stop))
    while sum(consumer.positions.values()) < entries:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return seconds


def _cpu(backend_pid: int) -> tuple[float, float] | None:
    """CPU seconds of the PostgreSQL backend and of this process (None: backend not local)."""
    try:
        with open(f"/proc/{backend_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return backend, time.process_time()


def _spent(before: tuple[float, float] | None, after: tuple[float, float] | None) -> list[float]:
    """[backend, this process] CPU seconds between two :func:`_cpu` readings ([] if unknown)."""
    if before is None or after is None:
        return []
    return [after[0] - before[0], after[1] - before[1]]


ROLLUPS = PROJECTIONS["visits"].rollups
"""The rows the fold writes beside ``page_visits`` (the overview's rollups and the titles)."""


def copy_rollups(conn: psycopg.Connection[Any]) -> tuple[float, list[float], int]:
    """COPY the rollup rows the fold wrote into identically indexed empty tables.

    Their rows are read out of PostgreSQL as binary COPY data first, then timed going
    back in (so this process encodes nothing: a baseline no slower than a client's
    COPY). Returns the seconds, [backend, this process] CPU seconds and the row count.
    """
    data: dict[str, bytes] = {}
    rows = 0
    for table in ROLLUPS:
        with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as out:  # type: ignore[arg-type]
            data[table] = b"".join(bytes(chunk) for chunk in out)
        rows += conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[arg-type,index]
        conn.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")  # type: ignore[arg-type]
        conn.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING ALL)")  # type: ignore[arg-type]
    conn.commit()
    pid = conn.info.backend_pid
    started, cpu_before = time.perf_counter(), _cpu(pid)
    for table in ROLLUPS:
        with conn.cursor().copy(f"COPY bench_copy_{table} FROM STDIN (FORMAT BINARY)") as copy:  # type: ignore[arg-type]
            copy.write(data[table])
    conn.commit()
    seconds, cpu = time.perf_counter() - started, _spent(cpu_before, _cpu(pid))
    for table in ROLLUPS:
        conn.execute(f"DROP TABLE bench_copy_{table}")  # type: ignore[arg-type]
    conn.commit()
    return seconds, cpu, rows


VISIT_TYPES = ["uuid", "uuid", "uuid", "text", "int4", *["text"] * 5, "timestamptz",
               "timestamptz", "int8", "text", "int8"]  # fmt: skip
"""The COPY types of the ``page_visits`` columns the raw COPY writes."""


async def bench_fold(
    settings: Settings, redis: aioredis.Redis, url: str, visits: int, visit_format: str = "events"
) -> dict[str, Any]:
    global visit_entries_cache
    visit_entries_cache = visit_entries(visits, settings.partitions, visit_format)
    await append_all(redis, settings, VISITS_TOPIC, visit_entries_cache)
    with psycopg.connect(url) as conn:
        consumer = ProjectionConsumer(settings, redis, conn, projections=("visits",))
        pid = conn.info.backend_pid
        cpu_before = _cpu(pid)
        fold_s = await run_until_caught_up(consumer, len(visit_entries_cache))
        fold_cpu = _spent(cpu_before, _cpu(pid))
        # The overview's rollups: what the projector's drainer does behind the fold.
        started, drain_cpu_before = time.perf_counter(), _cpu(pid)
        drained = drain_all(conn)
        drain_s, drain_cpu = time.perf_counter() - started, _spent(drain_cpu_before, _cpu(pid))
        # The baseline's rows in the order they were appended (opened_seq: the bench's
        # visit number), whatever order the fold stored them in: a COPY's cost depends on
        # its rows' order (index locality), and the baseline must not move with the fold's.
        rows = conn.execute(
            "SELECT visit_id, user_id, session_id, client_id, tab_id, url_hash, content_hash, url,"
            " title, domain, start_at, end_at, dwell_ms, end_reason, opened_seq FROM page_visits"
            " ORDER BY opened_seq"
        ).fetchall()
        assert len(rows) == visits, (len(rows), visits)
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE page_visits INCLUDING ALL)")
        conn.commit()
        started, copy_cpu_before = time.perf_counter(), _cpu(pid)
        with conn.cursor().copy("COPY bench_copy FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(VISIT_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        copy_s, copy_cpu = time.perf_counter() - started, _spent(copy_cpu_before, _cpu(pid))
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
        rollup_s, rollup_cpu, rollup_rows = copy_rollups(conn)
    fold_rate, copy_rate = visits / fold_s, visits / copy_s
    out = {
        "visits": visits,
        "fold_visits_per_s": round(fold_rate),
        "copy_rows_per_s": round(copy_rate),
        "rows_per_s": round(fold_rate),
        # The visits fold alone (page_visits, pending overview changes, checkpoints).
        "ratio": round(fold_rate / copy_rate, 3),
        # The overview's drain of the same visits' changes into the rollups.
        "overview_changes_drained": drained,
        "overview_drain_s": round(drain_s, 3),
        "overview_drain_rows_per_s": round(drained / drain_s) if drain_s else 0,
        # Fold + drain (the whole pipeline) against the raw COPY of the visits.
        "ratio_with_overview": round(copy_s / (fold_s + drain_s), 3),
        # Fold + drain against a raw COPY of every row they leave (visits and rollups).
        "rollup_rows": rollup_rows,
        "ratio_all_rows": round((copy_s + rollup_s) / (fold_s + drain_s), 3),
    }
    if fold_cpu and copy_cpu and rollup_cpu and drain_cpu:
        # The same ratios in CPU seconds (this process + the PostgreSQL backend, when local).
        whole = sum(fold_cpu) + sum(drain_cpu)
        out["cpu_ratio"] = round(sum(copy_cpu) / sum(fold_cpu), 3)
        out["cpu_ratio_with_overview"] = round(sum(copy_cpu) / whole, 3)
        out["cpu_ratio_all_rows"] = round((sum(copy_cpu) + sum(rollup_cpu)) / whole, 3)
        for name, (backend, process) in (
            ("fold", fold_cpu),
            ("overview_drain", drain_cpu),
            ("copy", copy_cpu),
            ("rollup_copy", rollup_cpu),
        ):
            out[f"{name}_backend_cpu_s"] = round(backend, 3)
            out[f"{name}_process_cpu_s"] = round(process, 3)
    return out


async def fold_and_archive(
    settings: Settings, redis: aioredis.Redis, url: str, projections: tuple[str, ...]
) -> None:
    """Fold everything appended so far into ``projections``, then archive it all."""
    with psycopg.connect(url) as conn:
        consumer = ProjectionConsumer(settings, redis, conn, projections=projections)
        await consumer.load()
        while await consumer.turn(block_ms=None):
            pass
        archiver = Archiver(settings, redis, conn)
        await archiver.load()
        while await archiver.turn(block_ms=None):
            pass


async def bench_replay(
    settings: Settings, redis: aioredis.Redis, url: str, raw_events: int
) -> dict[str, Any]:
    await append_all(redis, settings, RAW_TOPIC, raw_entries(raw_events))
    await fold_and_archive(settings, redis, url, ("sessions",))
    inner, replayed, rss_mb, seconds = run_replay(settings, url, "--projection", "sessions")
    assert replayed == raw_events, replayed  # every raw event went through the fold
    return {
        "raw_events": raw_events,
        "replay_events_per_s": round(raw_events / inner),
        "replay_seconds": inner,
        "replay_seconds_incl_startup": round(seconds, 2),
        "rss_mb": rss_mb,
    }


def run_replay(settings: Settings, url: str, *args: str) -> tuple[float, int, float, float]:
    """Run ``mindhit replay ARGS`` as a child: (its own seconds, events, peak RSS MB, wall s)."""
    env = {
        **os.environ,
        "MINDHIT_REDIS_URL": REDIS,
        "MINDHIT_DATABASE_URL": url,
        "MINDHIT_KEY_PREFIX": settings.key_prefix,
        "MINDHIT_PARTITIONS": str(settings.partitions),
        "MINDHIT_LOG_LEVEL": "warning",
    }
    started = time.perf_counter()
    # Peak RSS of the replay process itself: VmHWM read at its exit (ru_maxrss of a
    # child would include the pages of this big parent it was forked from).
    wrapper = (
        "import atexit, sys\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write('VMHWM ' + line.split()[1] + '\\n')\n"
        "atexit.register(hwm)\n"
        f"sys.argv = ['mindhit', 'replay', *{list(args)!r}]\n"
        "from mindhit.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper], env=env, capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rss_kb = int(proc.stderr.rsplit("VMHWM ", 1)[1].split()[0])
    inner = float(proc.stdout.split(" events in ")[1].split("s")[0])
    events = int(proc.stdout.split(" entries / ")[1].split(" events")[0])
    return inner, events, round(rss_kb / 1024, 1), seconds


def browsing_entries(n: int) -> list[tuple[str, bytes, int]]:
    """(user, value, events) of about n raw events of real browsing, 48 users.

    Each session: start, 40 tab switches 30 s apart over 25 pages per user (page
    text every 4th switch, 1 KB), stop; uploaded 20 events at a time.
    """
    rng = random.Random(7)
    words = ["reading", "about", "asyncio", "sourdough", "alpine", "hiking", "routes", "loops"]
    users = [deterministic_id("bench-rederive-user", i) for i in range(48)]
    out: list[tuple[str, bytes, int]] = []
    seqs = {u: 0 for u in users}
    made = 0
    s = 0
    while made < n:
        user = users[s % len(users)]
        client = f"c-{user[:8]}"
        sid = deterministic_id("bench-rederive-session", user, s)
        ts = BASE + s * 3_600_000
        events: list[ClientEvent] = []

        def env(
            t: int, user: str = user, client: str = client, sid: str = sid, s: int = s
        ) -> dict[str, Any]:
            seqs[user] += 1
            return {
                "event_id": str(uuid.UUID(int=(s << 32) + seqs[user])), "client_id": client,
                "session_id": sid, "seq": seqs[user], "ts": t,
            }  # fmt: skip

        events.append(SessionStarted(**env(ts), label=f"s{s}"))
        for i in range(40):
            ts += 30_000
            url = f"https://site{rng.randrange(25)}.example/{user[:4]}/p{rng.randrange(25)}"
            events.append(TabActivated(**env(ts), tab_id=i % 7, window_id=1, url=url, title=url))
            if i % 4 == 0:
                text = " ".join(rng.choice(words) for _ in range(150))
                digest = hashlib.sha256(text.encode()).hexdigest()
                events.append(
                    PageContent(**env(ts), tab_id=i % 7, url=url, title=url, text=text,
                                content_hash=digest, lang="en")
                )  # fmt: skip
        events.append(SessionStopped(**env(ts + 30_000)))
        for start in range(0, len(events), 20):
            chunk = events[start : start + 20]
            upload = Upload(
                batch_id=str(uuid.UUID(int=made + start + 1)), user_id=user, client_id=client,
                received_at=ts, events=chunk,
            )  # fmt: skip
            out.append((user, encode_raw_entry(RawEntry(uploads=[upload])), len(chunk)))
        made += len(events)
        s += 1
    return out


async def bench_rederive(
    settings: Settings, redis: aioredis.Redis, url: str, raw_events: int
) -> dict[str, Any]:
    """Re-fold vs. re-derive the same browsing log (both as ``mindhit replay`` children)."""
    entries = browsing_entries(raw_events)
    total = sum(n for _, _, n in entries)
    await append_all(redis, settings, RAW_TOPIC, entries)
    await fold_and_archive(settings, redis, url, tuple(PROJECTIONS))
    plain, _, _, _ = run_replay(settings, url)
    # Cold: no enrichment cached (a new AI provider); warm: the provider's enrichments
    # are cached (e.g. only the idle threshold changed), mind maps are built again.
    cold, _, cold_rss, _ = run_replay(settings, url, "--rederive")
    inner, events, rss_mb, _ = run_replay(settings, url, "--rederive")
    with psycopg.connect(url) as conn:
        visits = conn.execute("SELECT count(*) FROM page_visits").fetchone()
        maps = conn.execute("SELECT count(*) FROM mindmap_graphs").fetchone()
    assert visits and visits[0] > 0 and maps and maps[0] > 0, (visits, maps)
    return {
        "rederive_raw_events": total,
        "rederive_events_per_s": round(total / inner),
        "rederive_cold_events_per_s": round(total / cold),
        "refold_events_per_s": round(total / plain),
        "rederive_ratio": round(plain / inner, 3),
        "rederive_visits": visits[0],
        "rederive_mindmaps": maps[0],
        "rederive_rss_mb": max(rss_mb, cold_rss),
        "rederive_events_folded": events,
    }


async def bench_crash(settings: Settings, redis: aioredis.Redis, url: str) -> dict[str, Any]:
    """kill -9 at random points during a 200,000-event load; compare with a clean run."""
    items = list(synth_log(99, users=40, sessions_per_user=38, visits_per_session=50))
    events = sum(i.events for i in items)
    rng = random.Random(7)
    env = {
        **os.environ,
        "MINDHIT_REDIS_URL": REDIS,
        "MINDHIT_DATABASE_URL": url,
        "MINDHIT_KEY_PREFIX": settings.key_prefix,
        "MINDHIT_PARTITIONS": str(settings.partitions),
        "MINDHIT_PROJECTOR_PORT": "0",
        "MINDHIT_LOG_LEVEL": "warning",
    }
    kills = 0
    step = len(items) // 10
    for i in range(0, len(items), step):
        await write_log(redis, settings, items[i : i + step])
        proc = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", "projector"],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    with psycopg.connect(url) as conn:
        consumer = ProjectionConsumer(settings, redis, conn)  # the restart that finishes the job
        await consumer.load()
        while await consumer.turn(block_ms=None):
            pass
        crashed = snap(conn)
        conn.execute(f"TRUNCATE {TABLES}")
        conn.commit()
        clean = ProjectionConsumer(settings, redis, conn)
        await clean.load()
        while await clean.turn(block_ms=None):
            pass
        equal = snap(conn) == crashed
    return {"crash_events": events, "kills": kills, "crash_tables_equal": equal}


def snap(conn: psycopg.Connection[Any]) -> list[Any]:
    out = []
    for table, key in (
        ("sessions", "1"),
        ("urls", "1, 2"),
        ("page_texts", "1"),
        ("page_visits", "1"),
        ("mindmap_graphs", "1"),
    ):
        out.append(conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall())
    conn.commit()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="size both loads to take about this long on this machine "
        "(visits = 25,000/s, raw events = 100,000/s); overrides --visits/--raw-events",
    )
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--raw-events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--format",
        choices=("events", "columns", "rows"),
        default="rows",
        help="the derived visits as the processors write them (rows: a VisitRows of COPY"
        " rows per entry) or as earlier builds did (columns: a VisitsClosed per entry;"
        " events: one VisitClosed per visit)",
    )
    parser.add_argument(
        "--crash", action="store_true", help="run the 200k-event kill -9 check instead"
    )
    parser.add_argument(
        "--rederive",
        type=int,
        default=0,
        metavar="N",
        help="also compare replay and replay --rederive over a browsing log of ~N raw events",
    )
    args = parser.parse_args()
    if args.seconds is not None:
        args.visits = max(10_000, int(args.seconds * 25_000))
        args.raw_events = max(20_000, int(args.seconds * 100_000))
    url = fresh_db()
    prefix = f"benchproj{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {},
        redis_url=REDIS,
        database_url=url,
        key_prefix=prefix,
        partitions=args.partitions,
        log_level="warning",
    )
    redis = connect_redis(REDIS)
    result: dict[str, Any] = {}
    try:
        if args.crash:
            result.update(await bench_crash(settings, redis, url))
        else:
            result.update(await bench_fold(settings, redis, url, args.visits, args.format))
            result["visit_format"] = args.format
            print(
                f"visits fold: {result['fold_visits_per_s']:,} visits/s;"
                f" raw COPY {result['copy_rows_per_s']:,} rows/s;"
                f" ratio {result['ratio']} (CPU time: {result.get('cpu_ratio', 'n/a')});"
                f" overview drain: {result['overview_drain_rows_per_s']:,} changes/s;"
                f" fold + drain against the raw COPY: {result['ratio_with_overview']}"
                f" (CPU time: {result.get('cpu_ratio_with_overview', 'n/a')});"
                f" against a raw COPY of every row they leave ({result['rollup_rows']:,} rollup"
                f" rows besides the visits): {result['ratio_all_rows']}"
                f" (CPU time: {result.get('cpu_ratio_all_rows', 'n/a')})"
            )
            result.update(await bench_replay(settings, redis, url, args.raw_events))
            print(
                f"replay: {result['replay_events_per_s']:,} raw events/s"
                f" ({result['replay_seconds_incl_startup']}s with process start-up);"
                f" rss {result['rss_mb']} MB"
            )
        if args.rederive:
            result.update(await bench_rederive(settings, redis, url, args.rederive))
            print(
                f"rederive: {result['rederive_events_per_s']:,} raw events/s with enrichments"
                f" cached, {result['rederive_cold_events_per_s']:,}/s enriching every page"
                f" (re-fold {result['refold_events_per_s']:,}/s, ratio"
                f" {result['rederive_ratio']}); {result['rederive_visits']:,} visits,"
                f" {result['rederive_mindmaps']:,} mind maps; rss {result['rederive_rss_mb']} MB"
            )
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
