"""An extension recording a session the server stopped hears of it in the upload's answer.

A session stopped from the dashboard (or the API), or closed by the housekeeping after
``MINDHIT_SESSION_IDLE_CLOSE_S`` without an event (a laptop shut for the night), is over
for the processors: what its extension records in it afterwards is not counted. The
gateway's answer lists it in ``stopped`` so the extension ends it instead of recording
on in vain; another user's session is never listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from ingest.app import create_app
from ingest.state import GatewayState
from mindhit.session_log import stop_session
from mindhit.settings import Settings
from schema.ids import uuid7
from tests.integration.ingest.conftest import Account, active_event, logged_uploads, serve
from tests.unit.ingest.factories import upload_body

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def _upload(client: httpx.AsyncClient, account: Account, *events: dict[str, Any]) -> Any:
    answer = await client.post(
        "/v1/events", content=upload_body(list(events)), headers=account.headers
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


async def test_a_session_stopped_through_the_gateway_is_reported_to_its_next_upload(
    client: httpx.AsyncClient, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    recording, other = uuid7(), uuid7()
    assert (await _upload(client, account, active_event(recording, 1)))["stopped"] == []
    stop = await client.post(f"/v1/sessions/{recording}/stop", headers=account.headers)
    assert stop.status_code == 202
    stopped = stop.json()["stopped_at"]
    after = await _upload(client, account, active_event(recording, 2), active_event(other, 3))
    # Its events are still stored (the log keeps everything); the client is told.
    assert after["accepted"] == 2 and after["stopped"] == [recording]
    assert after["stops"] == [{"session_id": recording, "reason": "user", "stopped_at": stopped}]
    assert (await _upload(client, account, active_event(other, 4)))["stopped"] == []
    logged = [e.seq for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert {1, 2, 3, 4} <= set(logged)


async def _told_after(
    account: Account, settings: Settings, stop: Callable[[Settings, str], Awaitable[object]]
) -> Any:
    """The answer to an upload of a session after ``stop(settings, session)`` stopped it
    without the gateway (the housekeeping, an earlier build), once the gateway's
    short-lived cache of the uploader's sessions asks Redis again."""
    quick = msgspec.structs.replace(settings, session_idle_close_s=0.4)  # cache: 0.4 s
    async with serve(create_app(quick)) as client:
        recording = uuid7()
        assert (await _upload(client, account, active_event(recording, 1)))["stops"] == []
        await stop(quick, recording)
        await asyncio.sleep(0.5)
        return await _upload(client, account, active_event(recording, 2))


async def test_a_stop_from_the_dashboard_is_reported_to_the_next_upload(
    client: httpx.AsyncClient,
    gateway_state: GatewayState,
    account: Account,
    aredis: aioredis.Redis,
    settings: Settings,
) -> None:
    # The dashboard (and the housekeeping) stop sessions without the gateway, which
    # trusts a session it confirmed for a minute: the stop is published, and the
    # gateway forgets the session at once, so the very next upload is told.
    assert gateway_state.stop_listener is not None
    await asyncio.wait_for(gateway_state.stop_listener.subscribed.wait(), 5)
    recording = uuid7()
    assert (await _upload(client, account, active_event(recording, 1)))["stops"] == []
    await stop_session(aredis, settings, account.user_id, recording)
    for seq in (2, 3):  # told on every later upload, until the extension ends it
        told = await _upload(client, account, active_event(recording, seq))
        assert told["stopped"] == [recording] and told["stops"][0]["reason"] == "user"


async def test_another_users_stopped_session_is_never_reported(
    client: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    victim, attacker = account, other_account
    theirs = uuid7()
    await _upload(client, victim, active_event(theirs, 1))
    assert (await client.post(f"/v1/sessions/{theirs}/stop", headers=victim.headers)).is_success
    answer = await _upload(client, attacker, active_event(theirs, 1, "evil"))
    assert answer["accepted"] == 0 and answer["rejected"][0]["field"] == "session_id"
    assert answer["stopped"] == []


async def test_an_idle_close_is_reported_with_the_time_the_client_records_again_from(
    account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    # The laptop was offline for hours; the housekeeping closed the session meanwhile,
    # dated at its last event. The answer says so, so the extension records what came
    # after that moment again in a new session instead of losing it.
    last_event_ms = 1_733_000_000_000

    async def housekeeping(quick: Settings, session: str) -> object:
        return await stop_session(
            aredis, quick, account.user_id, session, clock=lambda: last_event_ms, reason="idle"
        )

    told = await _told_after(account, settings, housekeeping)
    [stop] = told["stops"]
    assert stop["reason"] == "idle" and stop["stopped_at"] == last_event_ms
    assert told["stopped"] == [stop["session_id"]]  # what earlier extensions read
