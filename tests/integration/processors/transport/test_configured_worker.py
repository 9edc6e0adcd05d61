"""A worker built from Settings reads the gateway's partitions and serves only on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from tests.integration.processors.transport.conftest import Worker, produce, wait_committed
from tests.support.servers import free_port as _free_port

pytestmark = pytest.mark.integration


def _listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of listening TCP sockets of ``pid`` (IPv4), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # LISTEN
            address, port = parts[1].split(":")
            ip = socket.inet_ntoa(bytes.fromhex(address)[::-1])
            found.add((ip, int(port, 16)))
    return found


async def test_settings_worker_binds_web_to_processors_host_and_consumes(
    aredis: aioredis.Redis, redis_url: str, key_prefix: str, tmp_path: Path, workers: list[Worker]
) -> None:
    port = _free_port()
    env = dict(
        os.environ,
        MINDHIT_KEY_PREFIX=key_prefix,
        MINDHIT_PARTITIONS="3",
        MINDHIT_PROCESSORS_HOST="127.0.0.1",
        MINDHIT_PROCESSORS_PORT=str(port),
        MINDHIT_COMMIT_INTERVAL_S="0.3",
        T_REDIS_URL=redis_url,
    )
    await produce(aredis, key_prefix, "numbers", [(b"k%d" % i, b"v") for i in range(30)], 3)
    worker = Worker(
        "tests.integration.processors.transport.configured_app", env, tmp_path / "w.log", args=()
    ).start()
    workers.append(worker)
    committed = await wait_committed(
        aredis, key_prefix, "configured", "numbers", worker, partitions=3
    )
    assert sum(committed.values()) == 30 and set(committed) == {0, 1, 2}

    assert worker.proc is not None
    deadline = time.monotonic() + 20
    while ("127.0.0.1", port) not in _listening_ports(worker.proc.pid):
        assert time.monotonic() < deadline, worker.log_tail()
        await asyncio.sleep(0.2)
    assert {addr for addr, _ in _listening_ports(worker.proc.pid)} == {"127.0.0.1"}
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/")
    assert response.status_code < 500
    assert worker.stop() == 0
