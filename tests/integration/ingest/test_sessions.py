"""The session API: start/stop through the gateway, ownership enforced per user."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.session_log import (
    SessionNotFoundError,
    server_client_id,
    start_session,
    stop_session,
)
from mindhit.session_owners import owner_key
from mindhit.settings import Settings
from schema.api import BatchResult
from schema.events import SessionStarted, SessionStopped
from schema.ids import uuid7
from tests.integration.ingest.conftest import Account, active_event, logged_uploads
from tests.unit.ingest.factories import upload_body

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

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


async def test_a_label_with_a_nul_character_is_a_400_naming_it(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    answer = await client.post("/v1/sessions", json={"label": "a\x00b"}, headers=account.headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == "label" and "NUL" in answer.json()["detail"]
    # The shared start (also the dashboard's) refuses it too, before logging anything.
    with pytest.raises(ValueError, match="NUL"):
        await start_session(aredis, settings, account.user_id, "a\x00b")
    assert await logged_uploads(aredis, settings) == []


async def test_events_of_another_users_session_are_refused_one_by_one(
    client: Client,
    account: Account,
    other_account: Account,
    aredis: aioredis.Redis,
    settings: Settings,
) -> None:
    victim, attacker = account, other_account
    theirs = uuid7()
    first = await client.post(
        "/v1/events", content=upload_body([active_event(theirs, 1)]), headers=victim.headers
    )
    assert first.json()["accepted"] == 1
    own = uuid7()
    relabel = active_event(theirs, 2, "evil", type="session.started", label="pwned")
    relabel.pop("state")
    body = upload_body([active_event(own, 1, "evil"), relabel, active_event(own, 3, "evil")])
    answer = await client.post("/v1/events", content=body, headers=attacker.headers)
    assert answer.status_code == 202
    result = answer.json()
    assert result["accepted"] == 2
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [(1, "session_id")]
    assert "another user" in result["rejected"][0]["reason"]
    uploads = await logged_uploads(aredis, settings)
    logged = [(up.user_id, e.session_id) for _, up in uploads for e in up.events]
    assert (attacker.user_id, theirs) not in logged
    assert logged.count((attacker.user_id, own)) == 2
    stop = await client.post(f"/v1/sessions/{theirs}/stop", headers=attacker.headers)
    assert stop.status_code == 404


async def test_a_session_recorded_before_ownership_keys_stays_its_recorded_owners(
    client: Client,
    account: Account,
    other_account: Account,
    apg: psycopg.AsyncConnection[Any],
    aredis: aioredis.Redis,
    settings: Settings,
) -> None:
    victim, attacker = account, other_account
    legacy = uuid7()
    await apg.execute(
        "INSERT INTO sessions (session_id, user_id, label, status)"
        " VALUES (%s, %s, 'mine', 'recording')",
        (legacy, victim.user_id),
    )
    await apg.commit()
    assert await aredis.get(owner_key(settings.key_prefix, legacy)) is None
    answer = await client.post(
        "/v1/events",
        content=upload_body([active_event(legacy, 1, "evil")]),
        headers=attacker.headers,
    )
    assert answer.json()["accepted"] == 0
    assert answer.json()["rejected"][0]["field"] == "session_id"
    assert await aredis.get(owner_key(settings.key_prefix, legacy)) == victim.user_id.encode()
    foreign = await client.post(f"/v1/sessions/{legacy}/stop", headers=attacker.headers)
    own = await client.post(f"/v1/sessions/{legacy}/stop", headers=victim.headers)
    assert (foreign.status_code, own.status_code) == (404, 202)
