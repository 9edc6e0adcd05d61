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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg

from mindhit.accounts import create_token, create_user
from tests.security._process import ROOT, ServiceProcess

__all__ = ["Device", "GatewayServer", "new_device", "running_gateway"]


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


class GatewayServer(ServiceProcess):
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
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
        prefix = prefix or f"mhsec-{uuid.uuid4().hex[:8]}"
        env.update(
            {
                "MINDHIT_REDIS_URL": redis_url,
                "MINDHIT_DATABASE_URL": database_url,
                "MINDHIT_KEY_PREFIX": prefix,
                "MINDHIT_PARTITIONS": "4",
                "MINDHIT_LOG_FORMAT": "json",
                "PYTHONPATH": str(ROOT),
                "MINDHIT_GATEWAY_METRICS_PORT": "0",  # a test that wants it names a port
                **extra,
            }
        )
        super().__init__(command, prefix, redis_url, env)

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
