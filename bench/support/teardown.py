"""Teardown shared by the benchmarks: stop the processes a run started, delete its keys.

Each benchmark runs on its own key prefix in a Redis other work may share, and starts
worker processes of its own; whatever happens in a run, these leave nothing behind.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable

import redis.asyncio as aioredis


def stop_processes(procs: Iterable[subprocess.Popen[bytes]], timeout_s: float = 30) -> None:
    """SIGTERM every process still running, then wait for each (kill it after ``timeout_s``)."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()


async def delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    """Delete every key under ``prefix:`` (500 per command)."""
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])
