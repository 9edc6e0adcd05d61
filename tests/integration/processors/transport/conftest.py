"""Helpers for running real Faust workers on the redis:// transport as subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from mindhit import streams
from processors.transport.catalog import load_committed
from processors.transport.options import broker_url
from schema.topics import partition_for, stream_key

ROOT = Path(__file__).resolve().parents[4]


class Worker:
    """One ``faust worker`` subprocess; its output goes to a log file for post-mortems."""

    def __init__(
        self, module: str, env: dict[str, str], log_path: Path, args: tuple[str, ...] | None = None
    ) -> None:
        self.module = module
        # ``faust worker`` would serve its web UI on 0.0.0.0 unless told otherwise.
        self.args = ("worker", "-l", "info", "--without-web") if args is None else args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:  # hung on the way out: do not leak it
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    """Workers started by a test; any still running are killed afterwards."""
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.alive():
            worker.stop(signal.SIGKILL)


def worker_env(redis_url: str, prefix: str, app_id: str, **extra: str) -> dict[str, str]:
    """Environment of a test worker."""
    env = dict(os.environ)
    env.update(
        T_BROKER=broker_url(
            redis_url,
            prefix,
            compact_interval=extra.pop("compact_interval", "0"),
            lease_ms=extra.pop("lease_ms", "3000"),
        ),
        T_APP_ID=app_id,
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def counter_messages(start: int, count: int, keys: int) -> list[tuple[bytes, bytes]]:
    """Messages ``start`` .. ``start + count - 1`` for the counter app, over ``keys`` keys."""
    return [(f"k{i % keys}".encode(), str(i).encode()) for i in range(start, start + count)]


async def produce(
    client: aioredis.Redis,
    prefix: str,
    topic: str,
    items: list[tuple[bytes, bytes]],
    partitions: int = 4,
) -> None:
    """Append keyed messages, partitioned like the gateway and the transport do."""
    for start in range(0, len(items), 2000):
        pipe = client.pipeline(transaction=False)
        for key, value in items[start : start + 2000]:
            streams.queue_append(
                pipe,
                stream_key(prefix, topic, partition_for(key, partitions)),
                value,
                key=key,
                timestamp_ms=1_700_000_000_000,
            )
        await pipe.execute()


async def wait_committed(
    client: aioredis.Redis,
    prefix: str,
    group: str,
    topic: str,
    worker: Worker,
    *,
    partitions: int = 4,
    timeout: float = 60.0,
    at_least: int | None = None,
) -> dict[int, int]:
    """Wait until ``group`` committed up to the highwater (or ``at_least`` in total)."""
    deadline = time.monotonic() + timeout
    committed: dict[int, int] = {}
    while time.monotonic() < deadline:
        assert worker.alive(), f"worker died:\n{worker.log_tail()}"
        stored = await load_committed(client, prefix, group, partitions=partitions)
        committed = {p: o for (t, p), o in stored.items() if t == topic}
        if at_least is not None:
            if sum(committed.values()) >= at_least:
                return committed
        else:
            highwaters = [
                await streams.highwater(client, stream_key(prefix, topic, p))
                for p in range(partitions)
            ]
            if all(committed.get(p, 0) >= hw for p, hw in enumerate(highwaters)):
                return committed
        await asyncio.sleep(0.1)
    raise AssertionError(f"commits stuck at {committed}:\n{worker.log_tail()}")


async def table_state(
    client: aioredis.Redis, prefix: str, changelog: str, partitions: int = 4
) -> dict[bytes, Any]:
    """A table as its changelog says: the newest value per key."""
    state: dict[bytes, Any] = {}
    for p in range(partitions):
        for _, fields in await client.xrange(stream_key(prefix, changelog, p)):
            value = fields.get(b"v")
            if value is None:
                state.pop(fields[b"k"], None)
            else:
                state[fields[b"k"]] = value
    return state
