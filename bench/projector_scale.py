"""Benchmark: visits/s folded by a projector group of 1 and of 2 replicas.

Each replica is a real ``mindhit projector`` process (group membership, partition leases,
fencing tokens, every projection and the archiver of the partitions it holds). Once the
group has settled, a backlog of ``--visits`` VisitClosed events (200 per entry, 64 users
over ``--partitions`` partitions) is appended, and the clock runs until every entry is
both folded into the read tables and archived (the checkpoints in PostgreSQL say so) and
the overview's rollups hold every visit (no change left in ``overview_changes``: the
replicas' drainer caught up): durable progress, as a user's dashboard sees it. Each run
has its own database (``--db``, dropped and created again) and key prefix (deleted
afterwards).

On one machine the replicas share its cores with PostgreSQL, whose backends do most of a
fold's work, so a second replica gains what the cores left idle by one; on separate
machines it also brings its own CPU.

Usage: ``python bench/projector_scale.py [--visits 200000] [--partitions 24]``; the last
line is JSON: ``projector_1_visits_per_s``, ``projector_2_visits_per_s``, for each the
machine's busy share (``…_machine_busy``) and the CPU the replicas and their PostgreSQL
backends spent per 1,000 visits (``…_cpu_ms_per_1k_visits``: the cost of the group's
coordination shows there, whatever else the machine runs).
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

import psycopg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.projector import append_all, fresh_db, visit_entries  # noqa: E402
from bench.support.teardown import delete_prefix, stop_processes  # noqa: E402
from mindhit.groups import read_group  # noqa: E402
from mindhit.keys import PROJECTOR_GROUP  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from mindhit.settings import Settings  # noqa: E402
from schema.topics import VISITS_TOPIC  # noqa: E402


def start_replica(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One ``mindhit projector`` process logging to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", "projector"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


async def wait_settled(
    client: aioredis.Redis, prefix: str, replicas: int, procs: list[subprocess.Popen[bytes]]
) -> None:
    """Until ``replicas`` members hold every partition in a published generation."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a projector replica exited with {proc.returncode}")
        view = await read_group(client, prefix, PROJECTOR_GROUP, "projector")
        if view is not None and view.assigned and len(view.members) == replicas:
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the projector group never had {replicas} members")


def busy_jiffies() -> tuple[int, int]:
    """The machine's (busy, total) CPU time so far, from /proc/stat (all cores)."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_cpu_s(conn: psycopg.Connection[object], procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds used so far by the replicas and their PostgreSQL backends."""
    backends = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    ).fetchall()
    conn.commit()
    return sum(proc_cpu_s(pid) for (pid,) in backends) + sum(proc_cpu_s(p.pid) for p in procs)


def progress(conn: psycopg.Connection[object]) -> tuple[int, int]:
    """Entries of the visits topic folded (visits projection) and archived so far."""
    rows = conn.execute(
        "SELECT projection, sum(next_offset) FROM projection_checkpoints"
        " WHERE topic = %s AND projection IN ('visits', 'archiver') GROUP BY projection",
        (VISITS_TOPIC,),
    ).fetchall()
    conn.commit()
    done = {name: int(total) for name, total in rows}
    return done.get("visits", 0), done.get("archiver", 0)


def drained(conn: psycopg.Connection[object]) -> bool:
    """Whether the overview's rollups hold every folded visit (nothing left to drain)."""
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM overview_changes)"
        " AND NOT EXISTS (SELECT 1 FROM overview_change_refs)"  # both kinds (migration 271)
    ).fetchone()
    conn.commit()
    return bool(row and row[0])


async def run(replicas: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Visits/s of ``replicas`` replicas folding and archiving the backlog; the share of
    the machine's CPU busy meanwhile (everything on it, PostgreSQL and Redis too); and the
    CPU the replicas and their PostgreSQL backends spent per 1,000 visits (ms), which a
    machine shared with other work skews much less than the rate."""
    prefix = f"bench-pscale-{uuid.uuid4().hex[:8]}"
    url = fresh_db(args.db)
    client = connect_redis(args.redis_url)
    settings = Settings(redis_url=args.redis_url, key_prefix=prefix, partitions=args.partitions)
    env = {
        **os.environ,
        "MINDHIT_REDIS_URL": args.redis_url,
        "MINDHIT_DATABASE_URL": url,
        "MINDHIT_KEY_PREFIX": prefix,
        "MINDHIT_PARTITIONS": str(args.partitions),
        "MINDHIT_LOG_FORMAT": "json",
        "MINDHIT_LOG_LEVEL": "warning",
        "MINDHIT_PROJECTOR_LEASE_MS": "2000",
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(replicas):
            env["MINDHIT_PROJECTOR_PORT"] = str(18_600 + i)
            log = Path(args.log_dir) / f"bench-pscale-{replicas}-{i}.log"
            procs.append(start_replica(env, log))
        await wait_settled(client, prefix, replicas, procs)
        entries = visit_entries(args.visits, args.partitions)
        with psycopg.connect(url) as conn:
            began, cpu_before = time.perf_counter(), busy_jiffies()
            spent_before = group_cpu_s(conn, procs)
            await append_all(client, settings, VISITS_TOPIC, entries)
            while min(progress(conn)) < len(entries) or not drained(conn):
                if any(proc.poll() is not None for proc in procs):
                    raise SystemExit("a projector replica died during the run")
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - began
            cpu_after = busy_jiffies()
            busy, total = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
            spent = group_cpu_s(conn, procs) - spent_before
            return args.visits / seconds, busy / total, spent * 1e6 / args.visits
    finally:
        stop_processes(procs)
        await delete_prefix(client, prefix)
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=200_000, help="backlog per run")
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--db", default="mindhit_bench_projector_scale", help="own database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--log-dir", default="/tmp")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs = {replicas: await run(replicas, args) for replicas in (1, 2)}
    print(
        f"{'replicas':>8} {'visits/s':>10} {'per replica':>11} {'efficiency':>10}"
        f" {'machine busy':>12} {'cpu ms/1k visits':>16}"
    )
    for replicas, (rate, busy, cost) in runs.items():
        efficiency = rate / (replicas * runs[1][0])
        print(
            f"{replicas:>8} {rate:>10,.0f} {rate / replicas:>11,.0f} {efficiency:>10.2f}"
            f" {busy:>12.0%} {cost:>16.1f}"
        )
    summary: dict[str, float | int] = {}
    for n, (rate, busy, cost) in runs.items():
        summary[f"projector_{n}_visits_per_s"] = round(rate)
        summary[f"projector_{n}_machine_busy"] = round(busy, 2)
        summary[f"projector_{n}_cpu_ms_per_1k_visits"] = round(cost, 1)
    summary.update(
        visits=args.visits,
        partitions=args.partitions,
        cpus=os.cpu_count() or 0,
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
    )
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
