"""A quarantine Redis refuses never turns an upload's good events into an error."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from ingest.state import GatewayState
from mindhit.settings import Settings
from schema.api import BatchResult
from tests.integration.ingest.conftest import Account, logged_uploads
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def test_an_unwritable_quarantine_still_answers_202_and_appends_the_good_events(
    client: httpx.AsyncClient,
    account: Account,
    aredis: aioredis.Redis,
    settings: Settings,
    gateway_state: GatewayState,
) -> None:
    # the quarantine key holds something else: every XADD to it fails (WRONGTYPE)
    await aredis.set(f"{settings.key_prefix}:quarantine", b"not a stream")
    events = event_dicts(5)
    events[2]["seq"] = "three"
    answer = await client.post("/v1/events", content=upload_body(events), headers=account.headers)
    assert answer.status_code == 202, answer.text
    result = msgspec.json.decode(answer.content, type=BatchResult)
    assert (result.accepted, len(result.rejected)) == (4, 1)
    assert [len(up.events) for _, up in await logged_uploads(aredis, settings)] == [4]
    text = generate_latest(gateway_state.metrics.registry).decode()
    assert "mindhit_gateway_quarantine_unwritten_total 1.0" in text
