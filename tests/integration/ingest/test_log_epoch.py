"""The gateway and the log epoch: a lost log gets a fresh epoch (seen downstream), a
recovery in progress refuses uploads with 503 (nothing appended), then they land."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from mindhit.log_epoch import RECOVERING, epoch_key, read_epochs
from mindhit.settings import Settings
from schema.topics import partition_for
from tests.integration.ingest.conftest import Account, logged_uploads
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def _wipe(aredis: aioredis.Redis, prefix: str) -> None:
    """What a Redis restart without persistence does to this test's keys."""
    keys = [k async for k in aredis.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await aredis.delete(*keys)


async def test_a_lost_log_gets_a_fresh_epoch_and_a_recovery_holds_uploads(
    client: httpx.AsyncClient, account: Account, settings: Settings, aredis: aioredis.Redis
) -> None:
    prefix = settings.key_prefix
    partition = partition_for(account.user_id, settings.partitions)
    first = await client.post(
        "/v1/events", content=upload_body(event_dicts(5, first_seq=1)), headers=account.headers
    )
    assert first.status_code == 202
    before = (await read_epochs(aredis, prefix, settings.partitions))[partition]
    assert before is not None

    await _wipe(aredis, prefix)
    again = await client.post(
        "/v1/events", content=upload_body(event_dicts(5, first_seq=6)), headers=account.headers
    )
    assert again.status_code == 202  # acknowledged into the new log: recover keeps it
    after = (await read_epochs(aredis, prefix, settings.partitions))[partition]
    assert after is not None and after != before  # the consumers' checkpoints say `before`

    await aredis.set(epoch_key(prefix, partition), RECOVERING + "x")
    held = await client.post(
        "/v1/events", content=upload_body(event_dicts(5, first_seq=11)), headers=account.headers
    )
    assert held.status_code == 503
    assert "recover" in held.json()["detail"]
    assert held.headers["retry-after"]
    assert [u.events[0].seq for _, u in await logged_uploads(aredis, settings)] == [6]

    await aredis.set(epoch_key(prefix, partition), "recovered")
    retried = await client.post(
        "/v1/events", content=upload_body(event_dicts(5, first_seq=11)), headers=account.headers
    )
    assert retried.status_code == 202
    assert [u.events[0].seq for _, u in await logged_uploads(aredis, settings)] == [6, 11]
