"""Instructions and simulated cache misses per event of the dwell handler (callgrind).

The clock and even CPU time swing with the load other processes put on a shared box;
callgrind's counts do not. This runs :class:`processors.agents.raw.RawHandler` under
``valgrind --tool=callgrind`` with a cache simulation of this box's sizes (I1 64 KB,
D1 48 KB, last level 2 MB = the L2 per core) over ``bench/processors.py``'s synthetic
browsing (its seed, batch ids numbered): ``--warm`` entries (every client's state made;
not counted), then ``--timed`` entries, 16 per call, counted alone (instrumentation is
switched on with ``callgrind_control`` once the warm-up is done and off once the timed
entries are done: the cleanup of the run's keys and the interpreter's exit are not
counted; until 2026-12-06 they were: ~0.9k instructions and ~10 L2 misses per event more
for the baseline, ~1.8k and ~12 for the handler). The Redis server's work is not
counted. With ``--baseline`` it counts what ``bench/processors.py`` compares
the handler with instead, ``XREAD`` + decode (over the same entries: the warm-up ones
read first, not counted). Prints per event: instructions, L1 and last-level misses and
``model_cycles`` = instructions + 12 per L1 miss + 150 per last-level miss, and a last
line of JSON. Compare two trees by running each tree's copy of this script
(``--warm 1000 --timed 320`` takes ~2 minutes); the modelled ratio is the baseline's
``model_cycles_per_event`` over the handler's.

Usage: ``python bench/processors_callgrind.py [--clients 10000] [--warm 1000] [--timed 320]
[--baseline]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.processors as bench  # noqa: E402
from bench.support.teardown import delete_prefix  # noqa: E402
from mindhit import streams  # noqa: E402
from mindhit.redis_client import connect_redis  # noqa: E402
from processors.agents.raw import MAX_BATCH, RawHandler  # noqa: E402
from processors.app import tune_gc  # noqa: E402
from processors.content import ContentStore  # noqa: E402
from processors.state import StateStore  # noqa: E402
from schema.log import decode_raw_entry  # noqa: E402
from schema.topics import RAW_TOPIC, stream_key  # noqa: E402

CACHES = ["--I1=65536,8,64", "--D1=49152,12,64", "--LL=2097152,16,64"]


def fixed_entries(clients: int, count: int) -> list[bytes]:
    """The same entries on every run (``Clients`` is seeded; batch ids are numbered)."""
    numbers = itertools.count()
    random_uuid4 = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=next(numbers))  # only while the entries are built
    try:
        return bench.build_entries(bench.Clients(clients), count)
    finally:
        uuid.uuid4 = random_uuid4


async def handle(args: argparse.Namespace, flag: Path) -> None:
    """Under callgrind: warm up, signal ``flag``.ready, wait for ``flag``.go, run timed,
    signal ``flag``.done, wait for ``flag``.off (instrumentation off), clean up."""
    values = fixed_entries(args.clients, args.warm + args.timed)
    client = connect_redis(args.redis_url)
    prefix = f"bench-cg-{uuid.uuid4().hex[:8]}"
    handler = RawHandler(
        StateStore(client, prefix),
        ContentStore(client, prefix),
        bench.PipelinedEmit(client, prefix),
    )
    tune_gc()

    async def run(start: int, stop: int) -> None:
        for first in range(start, stop, MAX_BATCH):
            last = min(stop, first + MAX_BATCH)
            await handler.handle_many(0, [(o, values[o]) for o in range(first, last)])

    async def read(key: str, start: int, stop: int) -> None:
        offset, events = start, 0
        while offset < stop:
            for record in await streams.read(client, {key: offset}, count=100):
                if record.offset >= stop:
                    return
                entry = decode_raw_entry(record.value)
                events += sum(len(u.events) for u in entry.uploads)
                offset = record.offset + 1

    try:
        key = stream_key(prefix, RAW_TOPIC, 0)
        if args.baseline:
            await bench.fill(client, key, values)
            await read(key, 0, args.warm)
        else:
            await run(0, args.warm)
        flag.with_suffix(".ready").touch()
        while not flag.with_suffix(".go").exists():
            time.sleep(0.05)
        if args.baseline:
            await read(key, args.warm, args.warm + args.timed)
        else:
            await run(args.warm, args.warm + args.timed)
        flag.with_suffix(".done").touch()  # counted up to here: not the cleanup, not the exit
        while not flag.with_suffix(".off").exists():
            time.sleep(0.05)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


def _wait_for(path: Path, child: subprocess.Popen[bytes], when: str) -> None:
    """Wait until the child under callgrind creates ``path``; fail if it exits first."""
    while not path.exists():
        if child.poll() is not None:
            raise RuntimeError(f"the handler exited {when}")
        time.sleep(0.2)


def _instrument(child: subprocess.Popen[bytes], state: str) -> None:
    """Switch callgrind's instrumentation of ``child`` ``on`` or ``off``."""
    subprocess.run(
        ["callgrind_control", "-i", state, str(child.pid)], check=True, capture_output=True
    )


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Run this script's ``--child`` under callgrind and read its counts."""
    with tempfile.TemporaryDirectory() as tmp:
        flag, out = Path(tmp) / "flag", Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            *CACHES,
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            *sys.argv[1:],
            "--child",
            str(flag),
        ]
        child = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=dict(os.environ))
        _wait_for(flag.with_suffix(".ready"), child, "during warm-up")
        _instrument(child, "on")
        flag.with_suffix(".go").touch()
        _wait_for(flag.with_suffix(".done"), child, "before its timed entries were done")
        _instrument(child, "off")
        flag.with_suffix(".off").touch()
        if child.wait() != 0:
            raise RuntimeError("the handler failed under callgrind")
        line = next(x for x in out.read_text().splitlines() if x.startswith("totals:"))
    ir, _, _, i1, d1r, d1w, ilr, dlr, dlw = (int(v) for v in line.split()[1:])
    events = args.timed * bench.UPLOADS_PER_ENTRY * bench.UPLOAD_EVENTS
    l1, ll = i1 + d1r + d1w, ilr + dlr + dlw
    return {
        "instructions_per_event": round(ir / events),
        "l1_misses_per_event": round(l1 / events, 1),
        "ll_misses_per_event": round(ll / events, 1),
        "model_cycles_per_event": round((ir + 12 * l1 + 150 * ll) / events),
        "clients": args.clients,
        "entries_timed": args.timed,
        "baseline": args.baseline,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000, help="concurrently active clients")
    parser.add_argument("--warm", type=int, default=1_000, help="entries before counting")
    parser.add_argument("--timed", type=int, default=320, help="entries counted")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--baseline", action="store_true", help="count XREAD + decode instead")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child is not None:
        asyncio.run(handle(parsed, parsed.child))
    else:
        found = measure(parsed)
        what = "XREAD + decode" if parsed.baseline else "dwell handler"
        print(
            f"{what} per event: {found['instructions_per_event']:,} instructions, "
            f"{found['l1_misses_per_event']} L1 and {found['ll_misses_per_event']} L2 misses, "
            f"{found['model_cycles_per_event']:,} modelled cycles"
        )
        print(json.dumps(found))
