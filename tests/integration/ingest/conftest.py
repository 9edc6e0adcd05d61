"""Fixtures for the gateway's integration tests: a user with a token, a live app client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
import uvicorn
from litestar import Litestar

from ingest.app import create_app
from ingest.state import GatewayState
from mindhit.accounts import create_token, create_user
from mindhit.settings import Settings
from mindhit.streams import read
from schema.ids import uuid7
from schema.log import Upload, decode_raw_entry
from schema.topics import RAW_TOPIC, stream_key


class Account:
    """A test user and one of their device tokens."""

    def __init__(self, user_id: str, token: str, token_id: str) -> None:
        self.user_id = user_id
        self.token = token
        self.token_id = token_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_account(conn: psycopg.AsyncConnection[Any], device: str = "laptop") -> Account:
    user = await create_user(conn, f"{uuid7()}@example.com")
    token_id, secret = await create_token(conn, user.user_id, device)
    return Account(user.user_id, secret, token_id)


@pytest.fixture
async def account(apg: psycopg.AsyncConnection[Any]) -> Account:
    return await make_account(apg)


@pytest.fixture
async def other_account(apg: psycopg.AsyncConnection[Any]) -> Account:
    return await make_account(apg)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` with uvicorn on a free loopback port; yield a client for it.

    A real server (not an in-process test transport) so concurrent requests are
    really concurrent, as they are in production.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as http:
        yield http


@pytest.fixture
def gateway_state(app: Litestar, client: httpx.AsyncClient) -> GatewayState:
    """The running app's shared objects (metrics registry, clients)."""
    state = app.state.gateway
    assert isinstance(state, GatewayState)
    return state


async def logged_uploads(redis: aioredis.Redis, settings: Settings) -> list[tuple[int, Upload]]:
    """Every upload in the raw topic, with the partition it sits in (in log order)."""
    found: list[tuple[int, Upload]] = []
    for partition in range(settings.partitions):
        stream = stream_key(settings.key_prefix, RAW_TOPIC, partition)
        for record in await read(redis, {stream: 0}, count=100_000):
            found.extend((partition, up) for up in decode_raw_entry(record.value).uploads)
    return found


def active_event(
    session_id: str, seq: int, client_id: str = "ext-1", **fields: Any
) -> dict[str, Any]:
    """An ``idle.state`` *active* event of ``session_id`` (the gateway takes any kind alike)."""
    return {
        "type": "idle.state",
        "state": "active",
        "event_id": uuid7(),
        "client_id": client_id,
        "session_id": session_id,
        "seq": seq,
        "ts": 1_764_000_000_000 + seq,
    } | fields
