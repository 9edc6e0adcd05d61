"""Chaos soak: simulated users through the real pipeline while its parts crash, then an audit.

It starts a private stack (``tests/support/stack.py``: its own Redis with
``appendfsync everysec``, its own PostgreSQL 15, the real ``mindhit gateway``,
``processors`` and ``projector``, all on loopback under one temporary directory),
lets ``--users`` simulated people browse through the gateway for ``--minutes``
(``bench/chaos_parts/users.py``) while a seeded schedule kills, restarts and pauses
components (``bench/chaos_parts/faults.py``), then stops every session, waits until every
consumer has caught up, and compares PostgreSQL with the ground truth folded from
exactly the acknowledged events (``bench/chaos_parts/oracle.py``).

Prints what happened, a table of the figures, and as the last line JSON with
``acked_events``, ``lost_visits``, ``duplicate_visits``, ``dwell_mismatches``,
``sessions_without_map``, ``missing_events``, ``session_mismatches``, ``kills``,
``restarts``, ``seconds`` and more. Exits 1 when any loss figure is not 0 (or the
pipeline never drained); every process it started is ended, also on Ctrl-C. The
temporary directory (component logs) is deleted after a clean run and kept
otherwise (``--keep`` keeps it always).

    python bench/chaos.py [--minutes 3] [--users 200] [--seed 13] [--processors 2] [--projectors 2]

With ``--processors N`` / ``--projectors M`` that many workers and projector replicas
share the partitions; each kill or pause hits one of them.

With ``--redis cluster`` the stack runs on a private Redis Cluster (three masters with a
replica each, 1 s node timeout, ``MINDHIT_WAIT_REPLICAS=1`` so nothing acknowledged
lives on one node only) and the faults are the cluster's
(:func:`bench.chaos_parts.faults.cluster_plan`): every partition resharded under load,
a failover of the node the components were started against, and a kill of the
processors and of the projector; the JSON adds ``reshards`` and ``failovers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos_parts.faults import Injector, cluster_plan, plan
from bench.chaos_parts.oracle import Findings, compare, ground_truth, read_archive, read_stored
from bench.chaos_parts.users import Counters, SimUser
from mindhit.accounts import create_token, create_user
from mindhit.corpus import load_pages
from mindhit.lag import collect_lag
from mindhit.redis_client import connect_redis
from tests.support.stack import Stack


def log(message: str) -> None:
    """Progress on stderr (stdout ends with the JSON line)."""
    print(message, file=sys.stderr, flush=True)


async def make_users(stack: Stack, count: int, seed: int, http: httpx.AsyncClient) -> list[SimUser]:
    """Create ``count`` accounts with a device token each (as ``mindhit token create`` does)."""
    pages = load_pages()
    counters = Counters()
    users: list[SimUser] = []
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        for i in range(count):
            user = await create_user(conn, f"chaos{i}@example.com", email_confirmed=True)
            _, token = await create_token(conn, user.user_id, "laptop")
            rng = random.Random(f"{seed}-{i}")
            users.append(SimUser(user.user_id, token, http, pages, rng, counters))
    return users


async def total_lag(stack: Stack) -> int | None:
    """Entries not yet consumed by every Faust group and projection (None: unreachable)."""
    client = connect_redis(stack.redis_url)
    try:
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            report = await collect_lag(client, stack.key_prefix, stack.partitions, conn)
        return sum(consumer.total_lag for consumer in report.consumers)
    except Exception:
        return None
    finally:
        await client.aclose()


async def drain(stack: Stack, timeout: float) -> bool:
    """Wait until every consumer has caught up and stays so for three checks."""
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        lag = await total_lag(stack)
        calm = calm + 1 if lag == 0 else 0
        if calm >= 3:
            return True
        await asyncio.sleep(1.0)
    return False


async def audit(stack: Stack, users: list[SimUser], settle: float) -> tuple[Findings, int, int]:
    """Compare PostgreSQL with the truth; retried for ``settle`` seconds while not clean."""
    deadline = time.monotonic() + settle
    ids = {u.user_id for u in users}
    while True:
        async with await psycopg.AsyncConnection.connect(stack.database_url) as conn:
            archive = await read_archive(conn, ids)
            truth = ground_truth(users, archive)
            stored = await read_stored(conn, ids)
            findings = compare(truth, stored, archive, stack.partitions)
        if findings.clean or time.monotonic() > deadline:
            return findings, len(truth.acked), len(truth.visits)
        await asyncio.sleep(3.0)


def table(rows: dict[str, Any]) -> str:
    """The figures as a two-column table."""
    width = max(len(k) for k in rows)
    lines = [f"{'figure'.ljust(width)}  value", f"{'-' * width}  -----"]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows.items()]
    return "\n".join(lines)


async def soak(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Drive, inflict, drain, audit: the whole run on a started stack."""
    seconds = args.minutes * 60
    limits = httpx.Limits(max_connections=args.users + 20, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(base_url=stack.gateway_url, limits=limits) as http:
        users = await make_users(stack, args.users, args.seed, http)
        if args.redis == "cluster":
            faults = cluster_plan(seconds, random.Random(args.seed), stack.partitions)
        else:
            faults = plan(seconds, random.Random(args.seed))
        injector = Injector(
            stack, report=lambda line: log(f"  fault {line}"), rng=random.Random(args.seed + 1)
        )
        started = time.monotonic()
        log(f"driving {args.users} users for {seconds:.0f}s with {len(faults)} faults")
        until = started + seconds
        await asyncio.gather(injector.run(faults, started), *(u.run(until) for u in users))
        driven = time.monotonic() - started
    log("draining")
    drained = await drain(stack, args.drain_timeout)
    exited = [name for name, c in stack.components.items() if not c.alive()]
    findings, acked, visits = await audit(stack, users, settle=30.0 if drained else 0.0)
    for kind, examples in findings.examples.items():
        for example in examples[:5]:
            log(f"  {kind}: {example}")
    if findings.examples:
        (stack.root / "findings.json").write_text(json.dumps(findings.examples, indent=1))
    counters = users[0].counters if users else Counters()
    return {
        "acked_events": acked,
        **findings.counts,
        "kills": injector.kills,
        "restarts": injector.restarts,
        "pauses": injector.pauses,
        "reshards": injector.reshards,
        "failovers": injector.failovers,
        "found_dead": injector.found_dead,
        "exited": exited,
        "seconds": round(time.monotonic() - started, 1),
        "driving_seconds": round(driven, 1),
        "drained": drained,
        "users": args.users,
        "sessions": counters.sessions,
        "server_stops": counters.server_stops,
        "visits": visits,
        "uploads": counters.uploads,
        "retries": counters.retries,
        "resent_same_id": counters.resent_same_id,
        "resent_new_id": counters.resent_new_id,
        "resent_late": counters.resent_late,
        "duplicates_answered": counters.duplicates_answered,
        "refused_uploads": counters.refused,
        "rejected_events": counters.rejected_events,
        "answers": counters.statuses,
        "refusals": counters.refusals[:10],
        "seed": args.seed,
        "minutes": args.minutes,
        "processors": args.processors,
        "projectors": args.projectors,
        "redis": args.redis,
    }


LOSS = (
    "lost_visits", "duplicate_visits", "dwell_mismatches", "sessions_without_map",
    "missing_events", "session_mismatches", "refused_uploads", "rejected_events",
)  # fmt: skip


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long users browse")
    parser.add_argument("--users", type=int, default=200, help="simulated users")
    parser.add_argument("--seed", type=int, default=13, help="seed of browsing and faults")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to catch up")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs directory")
    parser.add_argument(
        "--processors", type=int, default=1, help="processors workers (one worker group)"
    )
    parser.add_argument(
        "--projectors", type=int, default=1, help="projector replicas (one projector group)"
    )
    parser.add_argument(
        "--redis",
        choices=("single", "cluster"),
        default="single",
        help="one Redis (restarted) or a Redis Cluster (resharded, failed over)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    root = Path(tempfile.mkdtemp(prefix="mindhit-chaos-"))
    log(f"stack under {root}")
    result: dict[str, Any] | None = None
    replicas = {"processors": args.processors, "projector": args.projectors}
    cluster = args.redis == "cluster"
    with Stack(
        root,
        replicas=replicas,
        cluster_replicas=1 if cluster else None,
        env={"MINDHIT_WAIT_REPLICAS": "1"} if cluster else None,
    ) as stack:
        stack.start()
        result = asyncio.run(soak(stack, args))
    failed = not result["drained"] or any(result[k] for k in LOSS)
    for refusal in result["refusals"]:
        log(f"  refused: {refusal}")
    print(table({k: v for k, v in result.items() if k not in ("answers", "refusals")}))
    if failed or args.keep:
        log(f"kept {root} (component logs in {root / 'logs'})")
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
