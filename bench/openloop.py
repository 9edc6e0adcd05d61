"""Open-loop HTTP load for ``bench/ingest.py``: ``POST /v1/events`` at a constant rate.

wrk is closed-loop: a connection sends its next request only after the answer to
the last one, so when the server stalls, the requests that would have arrived
meanwhile are never sent and their waiting is never measured (coordinated
omission). Here each of ``--connections`` keep-alive connections has a fixed
schedule, like wrk2: connection ``i`` sends its ``k``-th request at
``start + (i / N + k) · N / rate``. A connection still waiting for an answer sends
its next request as soon as that answer comes, and every latency is measured from
the request's *scheduled* send time, so a slow answer counts for every request it
held up. The generator's own lateness (a send leaving after its time although its
connection was free) is reported apart, as ``send_lag_p99_ms``: it is included in
the latencies, so a loaded client can only make the figures worse, never better.
A stall of the client on the receiving side (answers read late) would count too, so
the client also reports its own event loop's lateness (``loop_lag_p99_ms``: how late
a 5 ms timer fires, sampled throughout): when the latencies are far above it, the
wait was in the server, not in this process.

Bodies and tokens come from the same files as ``ingest_wrk.lua`` (one body template
per line: the JSON after the batch id value; one device token per line). Batch ids
are made as that script makes them (the time in seconds, then a counter), so they
grow in the order requests are sent. Prints one JSON line.

    python bench/openloop.py --port 8000 --bodies small.txt --tokens tokens.txt \\
        --rate 3000 --connections 1000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - the bench runs where uvloop is installed
    uvloop = None


@dataclass
class Load:
    """What to send, how fast, for how long."""

    port: int
    templates: list[bytes]
    tokens: list[bytes]
    rate: float
    connections: int
    seconds: float
    counter: int = field(default_factory=lambda: int.from_bytes(os.urandom(3), "big") << 20)

    def request(self) -> bytes:
        """The next request, with a fresh batch id (see ``ingest_wrk.lua``)."""
        self.counter += 1
        batch_id = f"{int(time.time()) % 2**32:08x}-0000-7000-8abc-{self.counter:012x}"
        template = self.templates[self.counter % len(self.templates)]
        body = b'{"batch_id":"' + batch_id.encode() + template
        token = self.tokens[self.counter % len(self.tokens)]
        return (
            b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip


@dataclass
class Tally:
    """Latencies from the scheduled send time, statuses, and the generator's own lag."""

    latencies: list[float] = field(default_factory=list)
    send_lags: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    loop_lags: list[float] = field(default_factory=list)


async def _watch_loop(tally: Tally, tick: float = 0.005) -> None:
    """Record how late a ``tick`` timer fires, until cancelled (the client's own stalls)."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(tick)
        tally.loop_lags.append(max(0.0, time.perf_counter() - started - tick))


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _healthz(stream: Stream) -> None:
    reader, writer = stream
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await _answer(reader)


async def _connection(
    load: Load, stream: Stream, index: int, window: tuple[float, float], tally: Tally
) -> None:
    """Send connection ``index``'s requests on its schedule within ``window`` (loop time)."""
    loop = asyncio.get_running_loop()
    reader, writer = stream
    start, end = window
    period = load.connections / load.rate
    scheduled = start + index * period / load.connections
    try:
        while scheduled < end:
            now = loop.time()
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
                tally.send_lags.append(loop.time() - scheduled)
            writer.write(load.request())
            try:
                status = await _answer(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors += 1
                return
            tally.latencies.append(loop.time() - scheduled)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            scheduled += period
    finally:
        writer.close()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run(load: Load) -> dict[str, Any]:
    """Drive ``load``; return its figures (latencies in ms)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    streams = [
        await asyncio.open_connection("127.0.0.1", load.port) for _ in range(load.connections)
    ]
    # the server has accepted every connection (one GET /healthz each) before the first send
    await asyncio.gather(*(_healthz(stream) for stream in streams))
    start = loop.time() + 0.05
    window = (start, start + load.seconds)
    watch = asyncio.ensure_future(_watch_loop(tally))
    await asyncio.gather(
        *(_connection(load, stream, i, window, tally) for i, stream in enumerate(streams))
    )
    elapsed = loop.time() - start
    watch.cancel()
    ok = sum(n for status, n in tally.statuses.items() if 200 <= status < 300)
    return {
        "offered_per_s": load.rate,
        "requests": len(tally.latencies),
        "ok_per_s": round(ok / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": tally.errors,
        "p50_ms": round(percentile(tally.latencies, 50) * 1000, 2),
        "p90_ms": round(percentile(tally.latencies, 90) * 1000, 2),
        "p99_ms": round(percentile(tally.latencies, 99) * 1000, 2),
        "max_ms": round(max(tally.latencies, default=0.0) * 1000, 2),
        "send_lag_p99_ms": round(percentile(tally.send_lags, 99) * 1000, 2),
        "loop_lag_p99_ms": round(percentile(tally.loop_lags, 99) * 1000, 2),
        "connections": load.connections,
        "seconds": load.seconds,
        "client_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True, help="the gateway's port (loopback)")
    parser.add_argument("--bodies", type=Path, required=True, help="body templates, one a line")
    parser.add_argument("--tokens", type=Path, required=True, help="device tokens, one a line")
    parser.add_argument("--rate", type=float, required=True, help="requests/s offered in all")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to offer the rate")
    args = parser.parse_args()
    load = Load(
        port=args.port,
        templates=[line.encode() for line in args.bodies.read_text().splitlines() if line],
        tokens=[line.encode() for line in args.tokens.read_text().splitlines() if line],
        rate=args.rate,
        connections=args.connections,
        seconds=args.seconds,
    )
    if uvloop is not None:
        uvloop.install()
    print(json.dumps(asyncio.run(run(load))))


if __name__ == "__main__":
    main()
