"""Redis memory of the whole pipeline under simulated users, against the README's formula.

Starts a private stack (``tests/support/stack.py``: its own Redis and PostgreSQL, the
real gateway, processors and projector) with ``MINDHIT_STREAM_RETENTION_S=--window``,
lets ``--users`` simulated people browse (``bench/chaos_parts/users.py``, no faults) for
``--seconds``, samples ``INFO used_memory`` throughout, and at the end breaks Redis
down by kind of key (``MEMORY USAGE`` of every key, grouped by its name with ids
masked). Then it fills the README's sizing formula (Redis memory → "Sizing") with
what the run counted — users, clients, raw events still in the streams, page texts —
and prints the predicted growth of Redis's dataset (``used_memory_dataset``) against
the measured one; ``per_*_bytes`` are this run's own figures for each term. The last
line is JSON.

    python bench/redis_memory.py --users 100 --seconds 90 --window 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos import log, make_users
from schema.log import decode_raw_entry
from tests.support.stack import Stack

# The README's formula (Redis memory → Sizing): dataset bytes per unit, by term.
PER_UNIT = {
    "idempotency": 320,  # per client active within MINDHIT_BATCH_DEDUPE_SECONDS
    "per_user": 21_000,  # per user browsing: dwell state and last-save note, their page list
    "session_owners": 250,  # per session in flight (owner key and its listing)
    "sessions": 140,  # per session recorded within 30 days (the map marker)
    "streams": 750,  # raw + derived stream bytes per raw event still in Redis
    "content": 7_000,  # per distinct page text within MINDHIT_CONTENT_TTL_DAYS
}

_MASKS = [
    (re.compile(r"\{p\d+\}"), "{p*}"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"[0-9a-f]{12,}"), "<hex>"),
    (re.compile(r"(?<=[:-])\d+(?=$|:)"), "<n>"),
]


def shape(key: str) -> str:
    """A key's name with partitions, ids and numbers masked: its kind."""
    for pattern, mask in _MASKS:
        key = pattern.sub(mask, key)
    return key


def kind(name: str, key_type: str) -> str:
    """The formula's term a key belongs to."""
    if key_type == "stream" and name.rsplit(":", 1)[-1] in ("raw", "visits", "urls", "sessions"):
        return "streams"
    for term, marks in _TERMS.items():
        if any(mark in name for mark in marks):
            return term
    return "other"


_TERMS = {
    "idempotency": (":idem:",),
    "per_user": (":dwell-state", ":dwell-written", ":user-content:"),
    "session_owners": (":session-owner:", ":session-keys:", ":user-sessions:"),
    "sessions": (":mindmap-done:", ":session-stop:"),
    "content": (":content:", ":content-holders:", ":urlver:", ":enrich"),
}


def breakdown(control: redis.Redis) -> tuple[dict[str, int], Counter[str]]:
    """Bytes per formula term and per key shape (``MEMORY USAGE`` of every key)."""
    terms: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    for raw_key in control.scan_iter(count=1000):
        key = raw_key.decode()
        size = int(control.memory_usage(key, samples=0) or 0)
        key_type: Any = control.type(key)
        terms[kind(key, key_type.decode())] += size
        shapes[shape(key)] += size
    return dict(terms), shapes


def count(control: redis.Redis, pattern: str) -> int:
    """How many keys match ``pattern``."""
    return sum(1 for _ in control.scan_iter(match=pattern, count=1000))


def raw_events(control: redis.Redis, prefix: str, partitions: int) -> int:
    """Raw events still held by the raw streams."""
    events = 0
    for partition in range(partitions):
        entries: Any = control.xrange(f"{prefix}:{{p{partition}}}:raw")
        for _, fields in entries:
            events += sum(len(u.events) for u in decode_raw_entry(fields[b"v"]).uploads)
    return events


def predict(units: dict[str, int]) -> int:
    """The README's formula: how much the dataset grows for these counts."""
    return sum(PER_UNIT[term] * count for term, count in units.items())


def memory(control: redis.Redis) -> dict[str, int]:
    """``used_memory`` and its split into dataset and overhead (connections, buffers)."""
    info = control.info("memory")
    return {k: int(info[k]) for k in ("used_memory", "used_memory_dataset", "used_memory_overhead")}


async def drive(stack: Stack, args: argparse.Namespace, samples: list[int]) -> int:
    """Run the users for ``args.seconds``, sampling used_memory; return uploads made."""
    control = redis.Redis.from_url(stack.redis_url)
    limits = httpx.Limits(max_connections=args.users + 20, max_keepalive_connections=args.users)
    async with httpx.AsyncClient(base_url=stack.gateway_url, limits=limits) as http:
        users = await make_users(stack, args.users, args.seed, http)
        until = time.monotonic() + args.seconds

        async def sample() -> None:
            while time.monotonic() < until:
                samples.append(int(control.info("memory")["used_memory"]))
                await asyncio.sleep(10.0)

        await asyncio.gather(sample(), *(u.run(until) for u in users))
    control.close()
    return users[0].counters.uploads if users else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100, help="simulated users")
    parser.add_argument("--seconds", type=float, default=90.0, help="how long they browse")
    parser.add_argument("--window", type=float, default=30.0, help="MINDHIT_STREAM_RETENTION_S")
    parser.add_argument("--seed", type=int, default=7, help="seed of the browsing")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mindhit-redis-memory-"))
    try:
        with Stack(root, env={"MINDHIT_STREAM_RETENTION_S": str(args.window)}) as stack:
            stack.start()
            control = redis.Redis.from_url(stack.redis_url)
            before = memory(control)
            samples: list[int] = []
            uploads = asyncio.run(drive(stack, args, samples))
            time.sleep(6.0)  # one more trim round
            after = memory(control)
            terms, shapes = breakdown(control)
            prefix, partitions = stack.key_prefix, stack.partitions
            units = {
                "idempotency": count(control, f"{prefix}:*:idem:*"),
                "per_user": args.users,
                "session_owners": count(control, f"{prefix}:session-owner:*"),
                "sessions": count(control, f"{prefix}:mindmap-done:*"),
                "streams": raw_events(control, prefix, partitions),
                "content": count(control, f"{prefix}:content:*"),
            }
            control.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    predicted = predict(units)
    grown = after["used_memory_dataset"] - before["used_memory_dataset"]
    for name, size in shapes.most_common(15):
        log(f"  {size:>10,} B  {name}")
    result = {
        "users": args.users,
        "seconds": args.seconds,
        "window_s": args.window,
        "uploads": uploads,
        "units": units,
        "terms_bytes": terms,
        "per_unit_bytes": {t: round(terms.get(t, 0) / n) for t, n in units.items() if n},
        "before": before,
        "after": after,
        "used_memory_samples": samples,
        "dataset_growth": grown,
        "predicted_dataset_growth": predicted,
        "prediction_error": round(predicted / grown - 1, 3) if grown else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
