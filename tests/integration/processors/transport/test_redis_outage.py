"""A Redis restart under a running worker: it waits, then finishes with exact tables."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    wait_committed,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTER = "tests.integration.processors.transport.counter_app"


class PrivateRedis:
    """A redis-server of our own (append-only, fsync always) that a test may kill."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()  # fails while the append-only file is loading
                    return
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.kill()


async def test_worker_rides_out_a_redis_restart(
    private_redis: PrivateRedis, tmp_path: Path, workers: list[Worker]
) -> None:
    prefix = "outage"
    client = aioredis.Redis.from_url(private_redis.url)
    try:
        messages = [(f"k{i % 100}".encode(), b"%d" % i) for i in range(10_000)]
        await produce(client, prefix, "numbers", messages)
        env = worker_env(private_redis.url, prefix, "counter", T_COMMIT_INTERVAL="0.3")
        worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
        workers.append(worker)
        await wait_committed(client, prefix, "counter", "numbers", worker, at_least=2_000)

        private_redis.kill()
        await asyncio.sleep(1.5)
        assert worker.alive(), worker.log_tail()
        private_redis.start()
        await client.aclose()
        client = aioredis.Redis.from_url(private_redis.url)

        committed = await wait_committed(client, prefix, "counter", "numbers", worker)
        assert sum(committed.values()) == 10_000
        counts = {
            json.loads(k): json.loads(v)
            for k, v in (await table_state(client, prefix, "counter-counts-changelog")).items()
        }
        assert counts == {f"k{i}": 100 for i in range(100)}
        log = worker.log_tail(2000)
        assert "fetch failed; retrying" in log or "append failed; retrying" in log
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        await client.aclose()
