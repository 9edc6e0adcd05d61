"""Settings, device tokens, starting/stopping sessions, erasure, ops and the OpenAPI."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from mindhit.accounts import (
    SignedOutError,
    create_token,
    create_user,
    lookup_token,
    sign_out_everywhere,
)
from mindhit.cli.openapi import combined_openapi
from mindhit.group_state import GroupState
from mindhit.keys import PROJECTOR_GROUP
from mindhit.settings import Settings
from processors.transport.catalog import save_committed
from schema.derived import UserErased
from schema.log import decode_derived_entry, decode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, partition_for, stream_key
from tests.integration.web.conftest import (
    NOW,
    PASSWORD,
    confirm_address,
    csrf_from,
    sign_up,
    unique_email,
    user_id_of,
)
from web.app import create_app

pytestmark = pytest.mark.integration


async def test_settings_are_validated_and_saved_for_the_gateway(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    bad = await client.put(
        "/v1/settings",
        json={"blocked_domains": ["ok.example", "not a domain!"], "idle_threshold_s": 60},
        headers={"x-csrftoken": token},
    )
    assert bad.status_code == 400
    form = await client.post(
        "/settings",
        data={
            "blocked_domains": "https://Bank.Example/login\n*.mail.example",
            "idle_threshold_s": "120",
            "email_reports": "on",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert form.status_code == 303
    prefs = (await client.get("/v1/settings")).json()
    assert prefs == {
        "blocked_domains": ["bank.example", "mail.example"],
        "idle_threshold_s": 120,
        "email_reports": True,
    }
    # The gateway's token lookup sees the new block list.
    created = (
        await client.post("/v1/tokens", json={"device": "laptop"}, headers={"x-csrftoken": token})
    ).json()
    info = await lookup_token(apg, created["token"])
    assert info is not None and info.blocked_domains == ("bank.example", "mail.example")
    assert info.user_id == await user_id_of(apg, email)


async def test_tokens_are_shown_once_listed_and_revoked(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    token = await sign_up(client, unique_email())
    page = await client.post("/settings/tokens", data={"device": "desktop", "_csrf_token": token})
    assert "shown only once" in page.text and 'id="new-token"' in page.text
    listed = (await client.get("/v1/tokens")).json()
    assert [t["device"] for t in listed] == ["desktop"] and "token" not in listed[0]
    revoked = await client.delete(
        f"/v1/tokens/{listed[0]['token_id']}", headers={"x-csrftoken": token}
    )
    assert revoked.status_code == 204
    assert (await client.get("/v1/tokens")).json()[0]["revoked"] is True


async def test_start_and_stop_a_session_append_to_the_raw_log(
    client: AsyncTestClient[Any],
    web_settings: Settings,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    uid = await user_id_of(apg, email)
    started = await client.post(
        "/v1/sessions/start", params={"label": "Research"}, headers={"x-csrftoken": token}
    )
    assert started.status_code == 201
    sid = started.json()["session_id"]
    stopped = await client.post(f"/v1/sessions/{sid}/end", headers={"x-csrftoken": token})
    assert stopped.status_code == 200 and stopped.json()["status"] == "processing"
    key = stream_key(web_settings.key_prefix, RAW_TOPIC, partition_for(uid, 4))
    events = [
        event
        for _, fields in await aredis.xrange(key)
        for upload in decode_raw_entry(fields[b"v"]).uploads
        for event in upload.events
    ]
    assert [type(e).__name__ for e in events] == ["SessionStarted", "SessionStopped"]
    assert events[0].session_id == sid == events[1].session_id
    assert events[0].label == "Research"  # type: ignore[attr-defined]


async def test_erase_appends_user_erased_ends_every_token_and_keeps_the_block_list(
    client: AsyncTestClient[Any],
    web_settings: Settings,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    email = unique_email()
    token = await sign_up(client, email)
    uid = await user_id_of(apg, email)
    created = (
        await client.post(
            "/v1/tokens", json={"device": "Ann's work laptop"}, headers={"x-csrftoken": token}
        )
    ).json()
    prefs = {"blocked_domains": ["clinic.example"], "idle_threshold_s": 120, "email_reports": True}
    assert (await client.put("/v1/settings", json=prefs, headers={"x-csrftoken": token})).is_success
    assert "Your block list is kept" in (await client.get("/settings")).text
    refused = await client.post("/settings/erase", data={"confirm": "no", "_csrf_token": token})
    assert refused.status_code == 400
    done = await client.post(
        "/settings/erase",
        data={"confirm": "ERASE", "_csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?erased=1"
    key = stream_key(web_settings.key_prefix, SESSIONS_TOPIC, partition_for(uid, 4))
    entries = await aredis.xrange(key)
    events = [e for _, f in entries for e in decode_derived_entry(f[b"v"]).events]
    assert len(events) == 1 and isinstance(events[0], UserErased) and events[0].user_id == uid
    assert await lookup_token(apg, created["token"]) is None  # gone, its device name too
    assert (await client.get("/v1/me")).status_code == 401  # signed out everywhere

    # Signed in again: no token left, and an extension paired now still blocks the domain.
    csrf = csrf_from((await client.get("/login")).text)
    again = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert (await client.get("/v1/tokens")).json() == []
    assert (await client.get("/v1/settings")).json() == {
        "blocked_domains": ["clinic.example"],
        "idle_threshold_s": 60,
        "email_reports": False,
    }
    paired = (
        await client.post(
            "/v1/tokens", json={"device": "new laptop"}, headers={"x-csrftoken": csrf}
        )
    ).json()
    info = await lookup_token(apg, paired["token"])  # what the gateway filters uploads by
    assert info is not None and info.blocked_domains == ("clinic.example",)


@pytest.mark.cluster  # the ops page reads worker groups and offsets from Redis
async def test_ops_page_is_for_admins_only(
    client: AsyncTestClient[Any],
    web_settings: Settings,
    apg: psycopg.AsyncConnection[Any],
    aredis: aioredis.Redis,
) -> None:
    await sign_up(client, unique_email())
    assert (await client.get("/ops")).status_code == 403
    assert (await client.get("/v1/admin/lag")).status_code == 403
    from web.app import create_app

    admin_settings = msgspec.structs.replace(web_settings, admin_emails=("boss@example.com",))
    async with AsyncTestClient(app=create_app(admin_settings)) as admin:
        await sign_up(admin, "boss@example.com")
        assert (await admin.get("/ops")).status_code == 403  # listed, but not confirmed yet
        await confirm_address(apg, "boss@example.com")
        # A worker group of one member that committed: the page lists it with its partitions.
        prefix = web_settings.key_prefix
        await GroupState(prefix, "processors", "worker-ops", 5_000).heartbeat(aredis, 2)
        await save_committed(aredis, prefix, "processors", {("raw", 0): 0})
        await GroupState(prefix, PROJECTOR_GROUP, "replica-ops", 5_000).heartbeat(aredis, 2)
        page = await admin.get("/ops")
        assert page.status_code == 200 and "Dead letters" in page.text
        assert "Worker groups" in page.text and "worker-ops" in page.text
        assert "generation 1" in page.text
        assert "replica-ops" in page.text and "(projector)" in page.text
        assert isinstance((await admin.get("/v1/admin/lag")).json(), list)
        assert (await admin.get("/v1/admin/dead-letters")).json() == []


async def test_one_openapi_document_describes_gateway_and_dashboard(
    client: AsyncTestClient[Any],
) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    servers = {
        (path, method): op["servers"][0]["description"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "servers" in op
    }
    assert servers[("/v1/events", "post")] == "gateway"
    assert servers[("/v1/sessions", "get")] == "dashboard"
    assert servers[("/v1/search", "get")] == "dashboard"
    assert {"SessionTimeline", "EventBatch", "MindmapView"} <= set(doc["components"]["schemas"])
    msgspec.json.encode(doc)  # serializable as is


async def test_the_served_openapi_document_is_the_freshly_merged_one(
    client: AsyncTestClient[Any], web_settings: Settings
) -> None:
    """What the dashboard serves is what ``mindhit openapi`` writes now: it cannot go stale."""
    served = (await client.get("/schema/openapi.json")).json()
    assert served == msgspec.json.decode(msgspec.json.encode(combined_openapi(web_settings)))


async def test_an_app_given_no_openapi_document_answers_404_for_it(
    web_settings: Settings,
) -> None:
    async with AsyncTestClient(app=create_app(web_settings)) as bare:
        answer = await bare.get("/schema/openapi.json")
    assert answer.status_code == 404


async def test_admin_sees_a_dead_letter_and_retrying_sends_its_work_back(
    web_settings: Settings, aredis: aioredis.Redis, apg: psycopg.AsyncConnection[Any]
) -> None:
    from mindhit import streams
    from schema.derived import DeadLettered, SessionStatusChanged
    from schema.log import DerivedEntry, encode_derived_entry
    from schema.topics import DEADLETTERS_TOPIC
    from web.app import create_app

    work = encode_derived_entry(
        DerivedEntry(
            events=[SessionStatusChanged(user_id="u1", session_id="s1", status="processing", ts=1)]
        )
    )
    letter = DeadLettered(
        user_id="u1",
        dlq_id="dl-1",
        kind="mindmap",
        key="s1",
        error="AI answered 429 three times",
        failed_ts=1_790_000_000_000,
        source_topic=SESSIONS_TOPIC,
        partition=2,
        payload=work,
    )
    await streams.append(
        aredis,
        stream_key(web_settings.key_prefix, DEADLETTERS_TOPIC, 2),
        encode_derived_entry(DerivedEntry(events=[letter])),
        key=b"s1",
        timestamp_ms=1,
    )
    async with AsyncTestClient(app=create_app(web_settings)) as admin:
        token = await sign_up(admin, "admin@example.com")
        await confirm_address(apg, "admin@example.com")
        page = (await admin.get("/ops")).text
        assert "AI answered 429 three times" in page and "pending" in page
        retried = await admin.post(
            "/ops/dead-letters/dl-1/retry", data={"_csrf_token": token}, follow_redirects=False
        )
        assert retried.status_code == 303
        listed = (await admin.get("/v1/admin/dead-letters")).json()
        assert [(d["id"], d["status"]) for d in listed] == [("dl-1", "retried")]
        missing = await admin.post(
            "/v1/admin/dead-letters/nope/retry", headers={"x-csrftoken": token}
        )
        assert missing.status_code == 404
    entries = await aredis.xrange(stream_key(web_settings.key_prefix, SESSIONS_TOPIC, 2))
    assert [f[b"v"] for _, f in entries] == [work]


async def test_a_token_made_while_the_owner_signs_out_everywhere_is_revoked_or_not_made(
    apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    """A stolen sign-in asking for a device token at the moment its owner signs out
    everywhere: the token it gets is revoked with the others, and once the sign-in has
    ended it gets none."""
    from web.auth import create_login, session_hash

    user = await create_user(apg, unique_email("race"))
    cookie = await create_login(apg, user.user_id, now=NOW)
    login = session_hash(cookie)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as owner:
        async with apg.transaction():  # the token is made; its request has not finished
            _, secret = await create_token(apg, user.user_id, "thief", login=login, now=NOW)
            signing_out = asyncio.create_task(sign_out_everywhere(owner, user.user_id, now=NOW))
            await asyncio.sleep(0.5)
            assert not signing_out.done()  # it waits for the token to be committed ...
        done = await signing_out
    assert done.ended == 1 and done.tokens_revoked == 1
    info = await lookup_token(apg, secret)
    assert info is not None and info.revoked  # ... and revokes it with the rest
    with pytest.raises(SignedOutError):
        await create_token(apg, user.user_id, "thief again", login=login, now=NOW)
