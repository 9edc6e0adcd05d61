"""The session API: start/stop through the gateway, ownership enforced per user."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from mindhit.session_log import SessionNotFoundError, server_client_id, stop_session
from mindhit.settings import Settings
from schema.api import BatchResult
from schema.events import SessionStarted, SessionStopped
from schema.ids import uuid7
from tests.integration.ingest.conftest import Account, logged_uploads
from tests.unit.ingest.factories import upload_body

pytestmark = pytest.mark.integration

Client = httpx.AsyncClient


async def test_start_then_stop_appends_both_events_with_a_server_envelope(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    started = await client.post(
        "/v1/sessions", json={"label": "reading about rust"}, headers=account.headers
    )
    assert started.status_code == 201
    session_id = started.json()["session_id"]
    stopped = await client.post(f"/v1/sessions/{session_id}/stop", headers=account.headers)
    assert stopped.status_code == 202
    assert stopped.json()["session_id"] == session_id
    events = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert [type(e) for e in events] == [SessionStarted, SessionStopped]
    assert {e.session_id for e in events} == {session_id}
    assert {e.client_id for e in events} == {server_client_id(account.user_id)}
    assert events[0].seq < events[1].seq
    assert isinstance(events[0], SessionStarted) and events[0].label == "reading about rust"


async def test_a_session_can_be_started_without_a_body(client: Client, account: Account) -> None:
    answer = await client.post("/v1/sessions", headers=account.headers)
    assert answer.status_code == 201
    assert answer.json()["started_at"] > 0


async def test_user_a_cannot_stop_user_b_session(
    client: Client,
    account: Account,
    other_account: Account,
    aredis: aioredis.Redis,
    settings: Settings,
) -> None:
    created = await client.post("/v1/sessions", headers=other_account.headers)
    session_id = created.json()["session_id"]
    answer = await client.post(f"/v1/sessions/{session_id}/stop", headers=account.headers)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no such session"
    unknown = await client.post(f"/v1/sessions/{uuid7()}/stop", headers=account.headers)
    not_a_uuid = await client.post("/v1/sessions/../stop", headers=account.headers)
    assert unknown.status_code == 404 and not_a_uuid.status_code == 404
    events = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert [type(e) for e in events] == [SessionStarted]  # nothing was stopped
    with pytest.raises(SessionNotFoundError):
        await stop_session(aredis, settings, account.user_id, session_id)


async def test_a_session_started_by_the_extension_can_be_stopped_only_by_its_owner(
    client: Client, account: Account, other_account: Account
) -> None:
    session_id = uuid7()
    started = {
        "type": "session.started",
        "event_id": uuid7(),
        "client_id": "ext-1",
        "session_id": session_id,
        "seq": 1,
        "ts": 1_764_000_000_000,
    }
    answer = await client.post(
        "/v1/events", content=upload_body([started]), headers=account.headers
    )
    assert msgspec.json.decode(answer.content, type=BatchResult).accepted == 1
    foreign = await client.post(f"/v1/sessions/{session_id}/stop", headers=other_account.headers)
    own = await client.post(f"/v1/sessions/{session_id}/stop", headers=account.headers)
    assert (foreign.status_code, own.status_code) == (404, 202)


async def test_session_endpoints_need_a_token(client: Client) -> None:
    assert (await client.post("/v1/sessions")).status_code == 401
    assert (await client.post(f"/v1/sessions/{uuid7()}/stop")).status_code == 401


async def test_an_overlong_label_is_a_400(client: Client, account: Account) -> None:
    answer = await client.post("/v1/sessions", json={"label": "x" * 201}, headers=account.headers)
    assert answer.status_code == 400
    assert answer.json()["status_code"] == 400
