"""Benchmark: the visits fold and the overview's drain with small entries and revisits.

``bench/projector.py`` folds 200 visits per entry, every visit a new (user, page): the
fold's batches are large and no two visits share a rollup row, so draining the overview
later can only cost more. Real entries hold a few visits and users come back to their
pages: this bench appends ``--per-entry`` visits per entry (64 users, ``--pages`` pages
and 7 domains each, a visit a minute), folds them with the real consumer (``visits``
projection), then drains the overview's pending changes ``--drain-limit`` at a time (what
the live drainer finds every 0.5 s at a given ingest rate). It prints the CPU seconds of
this process and its PostgreSQL backend per 1,000 visits: the fold, the drain and both
(``total_cpu_ms_per_1k``). Against code without the drainer (rollups in the fold) the
drain figures are absent and the fold's is the total.

    python bench/projector_revisits.py [--visits 40000] [--per-entry 4] [--pages 50]
        [--drain-limit 10000]

Own database (``MINDHIT_BENCH_DB``, default ``mindhit_bench_projector``) and key prefix.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from typing import Any

import psycopg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.projector import (  # noqa: E402
    BASE,
    REDIS,
    _cpu,
    _spent,
    append_all,
    fresh_db,
    run_until_caught_up,
)
from bench.support.teardown import delete_prefix  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from mindhit.settings import Settings  # noqa: E402
from mindhit.visit_rows import as_rows  # noqa: E402
from projector.consumer import ProjectionConsumer  # noqa: E402
from schema.derived import VisitClosed  # noqa: E402
from schema.ids import deterministic_id  # noqa: E402
from schema.log import DerivedEntry, encode_derived_entry  # noqa: E402
from schema.topics import VISITS_TOPIC  # noqa: E402


def entries(n: int, per_entry: int, pages: int) -> list[tuple[str, bytes, int]]:
    """(user, value, events) of ``n`` visits, ``per_entry`` per entry, 64 users who each
    read ``pages`` pages over and over (a visit a minute)."""
    out = []
    users = [deterministic_id("bench-user", i) for i in range(64)]
    for start in range(0, n, per_entry):
        user = users[(start // per_entry) % 64]
        session = deterministic_id("bench-session", user, start // 2000)
        events = [
            VisitClosed(
                user_id=user, visit_id=deterministic_id("v", i), client_id="c", session_id=session,
                tab_id=1, url=f"https://example.org/p/{i % pages}", url_hash=f"h{i % pages}",
                domain=f"d{i % 7}.example", title=f"Page {i % pages}", start_ts=BASE + i * 60_000,
                end_ts=BASE + i * 60_000 + 900, dwell_ms=900, opened_seq=i, end_reason="switch",
            )
            for i in range(start, min(n, start + per_entry))
        ]  # fmt: skip
        entry = DerivedEntry(events=as_rows(events))  # type: ignore[arg-type]  # as written
        out.append((user, encode_derived_entry(entry), len(events)))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fold, then drain; CPU per 1,000 visits of each."""
    url = fresh_db()
    prefix = f"benchrevisit{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {}, redis_url=REDIS, database_url=url, key_prefix=prefix, partitions=4, log_level="warning"
    )
    redis = connect_redis(REDIS)
    per_1k = 1e6 / args.visits
    out: dict[str, Any] = {"visits": args.visits, "per_entry": args.per_entry}
    try:
        load = entries(args.visits, args.per_entry, args.pages)
        await append_all(redis, settings, VISITS_TOPIC, load)
        with psycopg.connect(url) as conn:
            consumer = ProjectionConsumer(settings, redis, conn, projections=("visits",))
            pid = conn.info.backend_pid
            before = _cpu(pid)
            await run_until_caught_up(consumer, len(load))
            fold = _spent(before, _cpu(pid))
            out["fold_cpu_ms_per_1k"] = round(sum(fold) * per_1k, 1)
            total = sum(fold)
            try:
                from projector.overview_drainer import drain_all
            except ImportError:  # code before the drainer: the fold kept the rollups
                drain_all = None
            if drain_all is not None:
                before = _cpu(pid)
                out["drained"] = drain_all(conn, args.drain_limit)
                drain = _spent(before, _cpu(pid))
                out["drain_cpu_ms_per_1k"] = round(sum(drain) * per_1k, 1)
                total += sum(drain)
            out["total_cpu_ms_per_1k"] = round(total * per_1k, 1)
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=40_000)
    parser.add_argument("--per-entry", type=int, default=4)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--drain-limit", type=int, default=10_000)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
