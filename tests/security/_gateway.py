"""The real gateway (and processors) as processes, and devices uploading over HTTP.

:class:`GatewayServer` runs ``python -m mindhit.cli gateway`` on a free loopback port
against the test database and Redis (a key prefix of its own) with any extra
``MINDHIT_*`` settings; ``command="processors"`` runs the stream processors the same
way (same prefix when ``prefix`` is given). :func:`new_device` makes a user with a
device token, as ``mindhit token create`` would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from mindhit.accounts import create_token, create_user
from tests.support.servers import free_port

__all__ = ["Device", "GatewayServer", "new_device", "running_gateway"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "security"


class Device:
    """One user's device: its user id and the headers carrying its token."""

    def __init__(self, user_id: str, token: str) -> None:
        self.user_id = user_id
        self.headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}


async def _device(database_url: str, tag: str) -> Device:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        user = await create_user(conn, f"{tag}-{uuid.uuid4().hex[:8]}@example.test")
        _, secret = await create_token(conn, user.user_id, f"{tag}-laptop")
        return Device(user.user_id, secret)


def new_device(database_url: str, tag: str) -> Device:
    """A new user with one device token."""
    return asyncio.run(_device(database_url, tag))


class GatewayServer:
    """``mindhit gateway`` as a child process on a free port; its output in ``log``."""

    def __init__(
        self,
        redis_url: str,
        database_url: str,
        *,
        command: str = "gateway",
        prefix: str = "",
        **extra: str,
    ) -> None:
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = prefix or f"mhsec-{uuid.uuid4().hex[:8]}"
        self.redis_url = redis_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
        self.env.update(
            {
                "MINDHIT_REDIS_URL": redis_url,
                "MINDHIT_DATABASE_URL": database_url,
                "MINDHIT_KEY_PREFIX": self.prefix,
                "MINDHIT_PARTITIONS": "4",
                "MINDHIT_LOG_FORMAT": "json",
                "PYTHONPATH": str(ROOT),
                "MINDHIT_GATEWAY_METRICS_PORT": "0",  # a test that wants it names a port
                **extra,
            }
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log = ARTIFACTS / f"{command}-{self.prefix}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> GatewayServer:
        """Start and wait until ``/readyz`` answers 200."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", self.command, "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mindhit {self.command} exited:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mindhit {self.command} did not answer; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 15 s) and drop the server's Redis keys."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")

    def upload(self, device: Device, body: bytes, **kwargs: Any) -> httpx.Response:
        """``POST /v1/events`` as ``device``."""
        return httpx.post(
            f"{self.url}/v1/events", content=body, headers=device.headers, timeout=60, **kwargs
        )


@contextmanager
def running_gateway(
    redis_url: str, database_url: str, *, command: str = "gateway", prefix: str = "", **extra: str
) -> Iterator[GatewayServer]:
    """A started :class:`GatewayServer`, stopped afterwards."""
    server = GatewayServer(redis_url, database_url, command=command, prefix=prefix, **extra)
    try:
        yield server.start()
    finally:
        server.stop()
