"""The gateway keeps accepting uploads, each logged once, while Redis Cluster moves slots.

A private 3-master cluster (this test changes which master serves which slot). Users
upload ordered batches, the way the extension does (an answer other than 202 is sent
again, same batch id), while the slots of their partitions (raw stream, log epoch,
idempotency state, sessions) move to another master one key at a time: the gateway
meets ``ASK`` and ``TRYAGAIN`` during each move and ``MOVED`` after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from redis.crc import key_slot

from ingest.app import create_app
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from schema.topics import RAW_TOPIC, partition_for, stream_key
from tests.integration.ingest.conftest import Account, logged_uploads, make_account, serve
from tests.support.redis_cluster import PrivateRedisCluster
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 6
EVENTS = 10


async def _upload_until_stopped(
    client: httpx.AsyncClient, account: Account, stop: asyncio.Event, statuses: Counter[int]
) -> list[int]:
    """One user's extension: ordered batches, each sent until answered 202 (after the
    ``Retry-After`` it is told); the first seqs of the batches sent."""
    sent: list[int] = []
    first_seq = 1
    while not stop.is_set():
        body = upload_body(event_dicts(EVENTS, first_seq=first_seq))
        while True:
            answer = await client.post("/v1/events", content=body, headers=account.headers)
            statuses[answer.status_code] += 1
            if answer.status_code == 202:
                break
            await asyncio.sleep(float(answer.headers.get("retry-after", "0.1")))
        sent.append(first_seq)
        first_seq += EVENTS
        await asyncio.sleep(0.02)
    return sent


@contextlib.asynccontextmanager
async def _uploading(
    settings: Settings, accounts: list[Account], statuses: Counter[int]
) -> AsyncIterator[list[list[int]]]:
    """Every account's extension uploads through a gateway on ``settings`` until the block
    ends; the yielded list then holds the first seqs each had acknowledged."""
    sent: list[list[int]] = []
    stop = asyncio.Event()
    async with serve(create_app(settings)) as client:
        users = [
            asyncio.create_task(_upload_until_stopped(client, account, stop, statuses))
            for account in accounts
        ]
        try:
            yield sent
        finally:
            stop.set()
            sent.extend(await asyncio.gather(*users))


async def _assert_logged_once(
    settings: Settings, accounts: list[Account], sent: list[list[int]]
) -> set[tuple[str, int]]:
    """Every batch acknowledged to ``accounts`` (their ``sent`` seqs) is in the log, once."""
    check = connect_redis(settings.redis_url)
    try:
        uploads = await logged_uploads(check, settings)
    finally:
        await check.aclose()
    logged = Counter((up.user_id, up.events[0].seq) for _, up in uploads)
    expected = {(a.user_id, seq) for a, seqs in zip(accounts, sent, strict=True) for seq in seqs}
    assert set(logged) == expected, "every acknowledged batch is in the log"
    assert set(logged.values()) == {1}, "and only once"
    return expected


async def test_uploads_through_slot_moves_are_accepted_and_logged_once(
    own_cluster: Callable[..., PrivateRedisCluster],
    settings: Settings,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    cluster = own_cluster()
    settings = msgspec.structs.replace(settings, redis_url=cluster.url)
    accounts = [await make_account(apg) for _ in range(USERS)]
    partitions = sorted({partition_for(a.user_id, settings.partitions) for a in accounts})
    statuses: Counter[int] = Counter()
    async with _uploading(settings, accounts, statuses) as sent:
        await asyncio.sleep(1.0)
        for partition in partitions[:3]:
            slot = key_slot(stream_key(settings.key_prefix, RAW_TOPIC, partition).encode())
            before = cluster.owner(slot)
            after = next(p for p in cluster.ports if p != before)
            moved = await asyncio.to_thread(cluster.move_slot, slot, after, pause=0.2)
            assert moved >= 1 and cluster.owner(slot) == after
        await asyncio.sleep(1.0)  # uploads after the moves: MOVED for an old slot map
    expected = await _assert_logged_once(settings, accounts, sent)
    assert statuses[202] == len(expected) and set(statuses) == {202}, statuses


async def test_uploads_through_a_failover_with_wait_replicas_lose_nothing_acknowledged(
    own_cluster: Callable[..., PrivateRedisCluster],
    settings: Settings,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    """``kill -9`` of a master mid-run: with ``MINDHIT_WAIT_REPLICAS=1`` every upload answered
    202 is in the log after its replica took over, once; meanwhile uploads get 503 (never
    500), until the old master is back as the new one's replica."""
    cluster = own_cluster(replicas=1, node_timeout_ms=1000)
    settings = msgspec.structs.replace(
        settings, redis_url=cluster.url, wait_replicas=1, wait_timeout_ms=1000
    )
    accounts = [await make_account(apg) for _ in range(USERS)]
    statuses: Counter[int] = Counter()
    async with _uploading(settings, accounts, statuses) as sent:
        await asyncio.sleep(1.0)
        partition = partition_for(accounts[0].user_id, settings.partitions)
        slot = key_slot(stream_key(settings.key_prefix, RAW_TOPIC, partition).encode())
        master = cluster.owner(slot)
        cluster.kill(master)
        deadline = asyncio.get_running_loop().time() + 20
        while cluster.owner_or_none(slot) in (None, master):
            assert asyncio.get_running_loop().time() < deadline, "no failover"
            await asyncio.sleep(0.2)
        # The promoted replica has no replica of its own: its partitions answer
        # 503 (replicas unavailable) until the old master rejoins as one.
        await asyncio.sleep(1.0)
        cluster.restart(master)
        await asyncio.sleep(3.0)
    await _assert_logged_once(settings, accounts, sent)
    assert set(statuses) <= {202, 503, 429}, statuses  # unavailable, retry later; never 500
