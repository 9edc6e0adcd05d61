"""An upload to a frozen Redis Cluster master is answered 503 in time, and logged once after.

A master that stops answering without closing its connections (``SIGSTOP`` here; in
production a paused VM, or a peer cut off without a reset) fails a command only at the
socket timeout (5 s), and redis-py 8.1's cluster client then tries again. The gateway's
client retries once (``ingest/app.py``): its uploads failed in 10.0-10.3 s before the
cluster client's bound too (5.0-10.0 s with ``WAIT``), so this test passes without that
bound; it pins that the answer is 503 with ``Retry-After`` within
:data:`~mindhit.redis_cluster.CALL_TIMEOUT_S` (+3 s), and that once the node answers,
the batch sent again is accepted and the log holds every batch once (the services whose
clients retried 10 times: ``tests/integration/processors/transport/test_cluster_frozen_node.py``).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import psycopg
import pytest
from redis.crc import key_slot

from ingest.app import create_app
from mindhit.redis_client import connect_redis
from mindhit.redis_cluster import CALL_TIMEOUT_S
from mindhit.settings import Settings
from schema.topics import RAW_TOPIC, partition_for, stream_key
from tests.integration.ingest.conftest import logged_uploads, make_account, serve
from tests.support.redis_cluster import PrivateRedisCluster
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 5


@pytest.mark.parametrize("wait_replicas", [0, 1], ids=["no-wait", "wait-replicas"])
async def test_an_upload_to_a_frozen_master_is_answered_503_in_time_then_logged_once(
    own_cluster: Callable[..., PrivateRedisCluster],
    settings: Settings,
    apg: psycopg.AsyncConnection[Any],
    wait_replicas: int,
) -> None:
    """Both ways an append goes on a cluster: one script call (no ``WAIT``), and the
    script and ``WAIT`` on one connection of the slot's node (``wait_replicas=1``)."""
    cluster = own_cluster(replicas=wait_replicas, node_timeout_ms=60_000)  # no failover
    settings = msgspec.structs.replace(
        settings, redis_url=cluster.url, wait_replicas=wait_replicas, wait_timeout_ms=1000
    )
    account = await make_account(apg)
    partition = partition_for(account.user_id, settings.partitions)
    master = cluster.owner(key_slot(stream_key(settings.key_prefix, RAW_TOPIC, partition).encode()))
    process = cluster.processes[cluster.ports.index(master)]
    bodies = [upload_body(event_dicts(EVENTS, first_seq=1 + EVENTS * i)) for i in range(3)]
    loop = asyncio.get_running_loop()
    async with serve(create_app(settings)) as client:

        async def upload(body: bytes) -> tuple[int, str | None, float]:
            began = loop.time()
            # Far past the bound: the test measures how long the gateway takes (the bug).
            answer = await client.post(
                "/v1/events", content=body, headers=account.headers, timeout=150
            )
            return answer.status_code, answer.headers.get("retry-after"), loop.time() - began

        assert (await upload(bodies[0]))[0] == 202
        process.send_signal(signal.SIGSTOP)
        try:
            status, retry_after, took = await upload(bodies[1])
        finally:
            process.send_signal(signal.SIGCONT)
        assert (status, took < CALL_TIMEOUT_S + 3) == (503, True), (status, took)
        assert retry_after is not None and int(retry_after) > 0
        for body in bodies[1:]:  # the extension sends the refused batch again, then on
            for _ in range(50):
                if (await upload(body))[0] == 202:
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the upload was never accepted once the node answered")
    check = connect_redis(settings.redis_url)
    try:
        uploads = await logged_uploads(check, settings)
    finally:
        await check.aclose()
    logged = Counter(up.events[0].seq for _, up in uploads if up.user_id == account.user_id)
    assert logged == {1: 1, 1 + EVENTS: 1, 1 + 2 * EVENTS: 1}, logged


async def test_uploads_arriving_behind_a_frozen_entry_are_answered_503_within_the_bound_too(
    own_cluster: Callable[..., PrivateRedisCluster],
    settings: Settings,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    """Uploads to a partition whose entry is in flight wait for it (``ingest/coalescer.py``)
    and were then written to the same frozen node: one sent 11 s after the first took 21.1 s
    to be answered 503 (the entry in flight, then its own). They now fail with the entry
    they waited for (9.3-10.3 s each); sent again once the node answers, each is logged
    once."""
    cluster = own_cluster(node_timeout_ms=60_000)  # no failover
    settings = msgspec.structs.replace(settings, redis_url=cluster.url)
    account = await make_account(apg)
    partition = partition_for(account.user_id, settings.partitions)
    master = cluster.owner(key_slot(stream_key(settings.key_prefix, RAW_TOPIC, partition).encode()))
    process = cluster.processes[cluster.ports.index(master)]
    bodies = [upload_body(event_dicts(EVENTS, first_seq=1 + EVENTS * i)) for i in range(5)]
    starts = [0.0, 1.0, 6.0, 11.0]  # the last ones behind the second entry tried, if any
    loop = asyncio.get_running_loop()
    async with serve(create_app(settings)) as client:

        async def upload(body: bytes, after: float = 0.0) -> tuple[int, float]:
            await asyncio.sleep(after)
            began = loop.time()
            answer = await client.post(
                "/v1/events", content=body, headers=account.headers, timeout=150
            )
            return answer.status_code, loop.time() - began

        assert (await upload(bodies[0]))[0] == 202
        process.send_signal(signal.SIGSTOP)
        try:
            answers = await asyncio.gather(
                *(upload(body, after) for body, after in zip(bodies[1:], starts, strict=True))
            )
        finally:
            process.send_signal(signal.SIGCONT)
        assert [status for status, _ in answers] == [503] * len(starts)
        assert max(took for _, took in answers) < CALL_TIMEOUT_S + 1, answers
        for body in bodies[1:]:
            for _ in range(50):
                if (await upload(body))[0] == 202:
                    break
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the upload was never accepted once the node answered")
    check = connect_redis(settings.redis_url)
    try:
        uploads = await logged_uploads(check, settings)
    finally:
        await check.aclose()
    logged = Counter(up.events[0].seq for _, up in uploads if up.user_id == account.user_id)
    assert logged == {1 + EVENTS * i: 1 for i in range(5)}, logged
