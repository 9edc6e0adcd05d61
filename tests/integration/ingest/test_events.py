"""POST /v1/events against real Redis and PostgreSQL: what a client and an operator see."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from ingest.state import GatewayState
from mindhit.accounts import lookup_token, lookup_tokens, revoke_token
from mindhit.settings import Settings
from schema.api import BatchResult, ErrorBody
from schema.ids import uuid7
from schema.topics import RAW_TOPIC, partition_for, stream_key
from tests.integration.ingest.conftest import Account, logged_uploads, serve
from tests.unit.ingest.factories import event_dicts, page_content, upload_body

pytestmark = pytest.mark.integration
# cluster: the tests that run once more on Redis Cluster (not the coalescing one: how many
# uploads share an entry depends on timing, which differs with three servers)

Client = httpx.AsyncClient


@pytest.mark.cluster
async def test_a_batch_posted_three_times_concurrently_is_appended_once(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    body = upload_body(event_dicts(200))
    answers = await asyncio.gather(
        *(client.post("/v1/events", content=body, headers=account.headers) for _ in range(3))
    )
    results = [msgspec.json.decode(a.content, type=BatchResult) for a in answers]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert sorted(r.duplicate for r in results) == [False, True, True]
    assert all(r.accepted == 200 for r in results)
    uploads = await logged_uploads(aredis, settings)
    assert len(uploads) == 1
    partition, upload = uploads[0]
    assert partition == partition_for(account.user_id, settings.partitions)
    assert upload.user_id == account.user_id and len(upload.events) == 200
    # a later retry of the same batch is still recognised
    again = await client.post("/v1/events", content=body, headers=account.headers)
    assert msgspec.json.decode(again.content, type=BatchResult).duplicate
    assert len(await logged_uploads(aredis, settings)) == 1


@pytest.mark.cluster
async def test_three_bad_events_of_200_are_reported_and_the_197_others_appended(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    events = event_dicts(200)
    events[5]["seq"] = "five"
    del events[77]["tab_id"]  # a tab.updated without its tab
    events[150]["type"] = "tab.teleported"
    answer = await client.post("/v1/events", content=upload_body(events), headers=account.headers)
    assert answer.status_code == 202
    result = msgspec.json.decode(answer.content, type=BatchResult)
    assert result.accepted == 197 and not result.duplicate
    assert [(r.index, r.field) for r in result.rejected] == [
        (5, "seq"),
        (77, "tab_id"),
        (150, "type"),
    ]
    assert "int" in result.rejected[0].reason
    uploads = await logged_uploads(aredis, settings)
    assert [len(up.events) for _, up in uploads] == [197]
    kept_seqs = [e.seq for e in uploads[0][1].events]
    assert kept_seqs == [e["seq"] for i, e in enumerate(events) if i not in (5, 77, 150)]
    quarantined = await aredis.xrange(f"{settings.key_prefix}:quarantine")
    assert [int(fields[b"index"]) for _, fields in quarantined] == [5, 77, 150]
    assert quarantined[0][1][b"field"] == b"seq"
    assert msgspec.json.decode(quarantined[1][1][b"event"])["seq"] == events[77]["seq"]


@pytest.mark.cluster
async def test_a_batch_of_only_bad_events_retried_is_quarantined_once(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    events = event_dicts(3)
    for event in events:
        event["seq"] = "not a number"
    body = upload_body(events)
    first, again = [
        msgspec.json.decode(
            (await client.post("/v1/events", content=body, headers=account.headers)).content,
            type=BatchResult,
        )
        for _ in range(2)
    ]
    assert (first.accepted, len(first.rejected), first.duplicate) == (0, 3, False)
    assert (again.accepted, len(again.rejected), again.duplicate) == (0, 3, True)
    assert len(await aredis.xrange(f"{settings.key_prefix}:quarantine")) == 3
    assert await logged_uploads(aredis, settings) == []


@pytest.mark.cluster
async def test_incognito_events_are_refused_and_their_content_not_kept(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    events = event_dicts(4)
    events[2]["incognito"] = True
    answer = await client.post("/v1/events", content=upload_body(events), headers=account.headers)
    result = msgspec.json.decode(answer.content, type=BatchResult)
    assert result.accepted == 3
    assert [(r.index, r.field) for r in result.rejected] == [(2, "incognito")]
    stored = [e.seq for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert events[2]["seq"] not in stored
    quarantined = await aredis.xrange(f"{settings.key_prefix}:quarantine")
    assert [fields[b"event"] for _, fields in quarantined] == [b""]


@pytest.mark.cluster
async def test_blocked_domains_of_the_user_and_global_list_never_reach_the_log(
    settings: Settings,
    account: Account,
    apg: psycopg.AsyncConnection[Any],
    aredis: aioredis.Redis,
) -> None:
    from ingest.app import create_app

    await apg.execute(
        "UPDATE user_settings SET blocked_domains = %s WHERE user_id = %s",
        (["bank.example"], account.user_id),
    )
    settings = msgspec.structs.replace(settings, blocked_domains=("health.example",))
    envelope = {"client_id": "ext-1", "session_id": uuid7(), "ts": 1_764_000_000_000}
    urls = [
        "https://www.bank.example/login",  # user's list, subdomain
        "https://mybank.example/",  # not a subdomain: kept
        "https://HEALTH.example./records",  # global list
        "https://news.example/a",
    ]
    events = [
        page_content(url, "secret text", event_id=uuid7(), seq=i, **envelope)
        for i, url in enumerate(urls)
    ]
    async with serve(create_app(settings)) as client:
        answer = await client.post(
            "/v1/events", content=upload_body(events), headers=account.headers
        )
    result = msgspec.json.decode(answer.content, type=BatchResult)
    assert (result.accepted, result.blocked, result.rejected) == (2, 2, [])
    stored = [e.url for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert stored == ["https://mybank.example/", "https://news.example/a"]


async def test_tokens_missing_unknown_or_revoked_are_refused(
    client: Client, account: Account, apg: psycopg.AsyncConnection[Any], settings: Settings
) -> None:
    from ingest.app import create_app

    body = upload_body(event_dicts(2))
    missing = await client.post("/v1/events", content=body)
    unknown = await client.post(
        "/v1/events", content=body, headers={"Authorization": "Bearer mh_nope"}
    )
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (await client.post("/v1/events", content=body, headers=account.headers)).is_success
    assert await revoke_token(apg, account.user_id, account.token_id) == 1
    # a running gateway honours a revocation within token_cache_seconds; a fresh one at once
    async with serve(create_app(settings)) as fresh:
        revoked = await fresh.post("/v1/events", content=body, headers=account.headers)
    assert revoked.status_code == 403
    assert msgspec.json.decode(revoked.content, type=ErrorBody).detail == (
        "this device token was revoked"
    )


async def test_tokens_looked_up_together_are_answered_as_one_by_one(
    account: Account, other_account: Account, apg: psycopg.AsyncConnection[Any]
) -> None:
    await apg.execute(
        "UPDATE user_settings SET blocked_domains = %s WHERE user_id = %s",
        (["bank.example"], other_account.user_id),
    )
    assert await revoke_token(apg, account.user_id, account.token_id) == 1
    secrets = [account.token, other_account.token, "mh_nope", account.token]
    together = await lookup_tokens(apg, secrets)
    assert set(together) == {account.token, other_account.token}  # the unknown left out
    for secret in secrets:
        assert together.get(secret) == await lookup_token(apg, secret)
    assert together[account.token].revoked
    assert together[other_account.token].blocked_domains == ("bank.example",)
    assert await lookup_tokens(apg, []) == {}


async def test_malformed_json_is_a_400_with_the_position(client: Client, account: Account) -> None:
    answer = await client.post(
        "/v1/events", content=b'{"batch_id": "x",, }', headers=account.headers
    )
    assert answer.status_code == 400
    error = msgspec.json.decode(answer.content, type=ErrorBody)
    assert error.position == 17
    assert "malformed JSON" in error.detail


async def test_an_invalid_batch_id_is_a_400_naming_the_field(
    client: Client, account: Account
) -> None:
    body = upload_body(event_dicts(1), batch_id="not-a-uuid")
    answer = await client.post("/v1/events", content=body, headers=account.headers)
    assert answer.status_code == 400
    assert msgspec.json.decode(answer.content, type=ErrorBody).field == "batch_id"


async def test_too_many_events_or_too_many_bytes_is_a_413(
    client: Client, settings: Settings, account: Account
) -> None:
    from ingest.app import create_app

    many = await client.post(
        "/v1/events", content=upload_body(event_dicts(501)), headers=account.headers
    )
    assert many.status_code == 413
    assert msgspec.json.decode(many.content, type=ErrorBody).field == "events"
    small = msgspec.structs.replace(settings, max_body_bytes=64 * 1024)
    envelope = {"event_id": uuid7(), "client_id": "c", "session_id": uuid7(), "seq": 1, "ts": 1}
    big_text = page_content("https://a.example/", "x" * 100_000, **envelope)
    async with serve(create_app(small)) as small_client:
        big = await small_client.post(
            "/v1/events", content=upload_body([big_text]), headers=account.headers
        )
    assert big.status_code == 413
    assert msgspec.json.decode(big.content, type=ErrorBody).status_code == 413


async def test_metrics_count_batches_and_events_by_outcome(
    client: Client, account: Account, gateway_state: GatewayState
) -> None:
    events = event_dicts(10)
    events[0]["ts"] = -1
    body = upload_body(events)
    for _ in range(2):
        assert (await client.post("/v1/events", content=body, headers=account.headers)).is_success
    assert (await client.get("/metrics")).status_code == 404  # internal port only
    text = generate_latest(gateway_state.metrics.registry).decode()
    assert 'mindhit_gateway_events_total{outcome="accepted"} 9.0' in text
    assert 'mindhit_gateway_events_total{outcome="duplicate"} 9.0' in text
    assert 'mindhit_gateway_events_total{outcome="rejected"} 2.0' in text
    assert 'mindhit_gateway_batches_total{outcome="duplicate"} 1.0' in text
    assert "mindhit_gateway_append_seconds_count 2.0" in text  # the retry ran the script too


@pytest.mark.cluster
async def test_readiness_reports_both_dependencies(client: Client) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "redis": "ok", "postgres": "ok"}


async def test_concurrent_small_uploads_are_coalesced_into_few_entries(
    apg: psycopg.AsyncConnection[Any], aredis: aioredis.Redis, settings: Settings
) -> None:
    from ingest.app import create_app
    from tests.integration.ingest.conftest import make_account

    accounts = [await make_account(apg) for _ in range(6)]
    bodies = [
        (acct, upload_body(event_dicts(1 + i % 5, client_id=f"ext-{i}", first_seq=i * 10)))
        for i, acct in enumerate(accounts * 10)
    ]
    async with serve(create_app(settings)) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/events", content=b, headers=acct.headers) for acct, b in bodies)
        )
    assert {a.status_code for a in answers} == {202}
    uploads = await logged_uploads(aredis, settings)
    assert len(uploads) == len(bodies)
    for partition, upload in uploads:
        assert partition == partition_for(upload.user_id, settings.partitions)
    entries = 0
    for partition in range(settings.partitions):
        entries += await aredis.xlen(stream_key(settings.key_prefix, RAW_TOPIC, partition))
    # Uploads share entries: without coalescing there would be 60. How many share depends
    # on how the 60 requests' arrivals spread over the gateway's round trips (15-26
    # entries on a quiet box, up to 33 seen under load), so the bound leaves room for that.
    assert entries < len(bodies) * 2 / 3


async def test_only_post_is_allowed_and_a_streamed_oversized_body_is_a_413(
    settings: Settings, account: Account
) -> None:
    from ingest.app import create_app

    small = msgspec.structs.replace(settings, max_body_bytes=10_000)

    async def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b" " * 1000

    async with serve(create_app(small)) as client:
        wrong = await client.get("/v1/events", headers=account.headers)
        streamed = await client.post("/v1/events", content=chunks(), headers=account.headers)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert streamed.status_code == 413
    assert msgspec.json.decode(streamed.content, type=ErrorBody).status_code == 413


async def test_each_upload_writes_one_json_log_line_with_user_size_and_outcome(
    settings: Settings, account: Account, capfd: pytest.CaptureFixture[str]
) -> None:
    from ingest.app import create_app

    settings = msgspec.structs.replace(settings, log_format="json")
    body = upload_body(event_dicts(7))
    async with serve(create_app(settings)) as client:
        for _ in range(2):
            await client.post("/v1/events", content=body, headers=account.headers)
        await client.post("/v1/events", content=body)
    lines = [
        msgspec.json.decode(line)
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("{") and '"upload"' in line
    ]
    assert [(x["user_id"], x.get("events"), x["outcome"], x["status"]) for x in lines] == [
        (account.user_id, 7, "appended", 202),
        (account.user_id, 7, "duplicate", 202),
        (None, None, "missing device token (Authorization: Bearer <token>)", 401),
    ]
    assert all(x["level"] == "info" and "timestamp" in x for x in lines)


@pytest.mark.cluster
async def test_page_text_already_in_the_content_store_is_not_logged_again(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    from mindhit.streams import content_holders_key, content_key
    from schema.events import PageContent

    envelope = {"client_id": "ext-1", "session_id": uuid7(), "ts": 1_764_000_000_000}
    known = page_content(
        "https://a.example/", "already stored text", event_id=uuid7(), seq=1, **envelope
    )
    fresh = page_content(
        "https://b.example/", "brand new text", event_id=uuid7(), seq=2, **envelope
    )
    stored = content_key(settings.key_prefix, known["content_hash"])
    await aredis.set(stored, b"stored", ex=60)  # about to expire
    # the account's own earlier upload carried it
    holders = content_holders_key(settings.key_prefix, known["content_hash"])
    await aredis.sadd(holders, account.user_id)
    answer = await client.post(
        "/v1/events", content=upload_body([known, fresh]), headers=account.headers
    )
    assert msgspec.json.decode(answer.content, type=BatchResult).accepted == 2
    # found known, the text's lifetime was renewed: the processors will still find it
    assert await aredis.ttl(stored) > settings.content_ttl_days * 86_400 - 60
    logged = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert [(e.content_hash, e.text) for e in logged if isinstance(e, PageContent)] == [
        (known["content_hash"], ""),
        (fresh["content_hash"], "brand new text"),
    ]


@pytest.mark.cluster
async def test_page_text_read_again_soon_after_an_erasure_is_logged_in_full(
    client: Client,
    account: Account,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
    settings: Settings,
) -> None:
    """The processors may not have folded the erasure yet (the user still holds the
    text): left out, the text would be gone by the time they read its hash."""
    import time

    from mindhit.erasures import record_erasure
    from mindhit.streams import content_holders_key, content_key
    from schema.events import PageContent

    now = int(time.time() * 1000)
    async with apg.transaction():
        await record_erasure(apg, account.user_id, now - 1_000, "user")
    envelope = {"client_id": "ext-1", "session_id": uuid7(), "ts": now}
    again = page_content(
        "https://a.example/", "read before the erasure", event_id=uuid7(), seq=1, **envelope
    )
    await aredis.set(content_key(settings.key_prefix, again["content_hash"]), b"x", ex=600)
    holders = content_holders_key(settings.key_prefix, again["content_hash"])
    await aredis.sadd(holders, account.user_id)  # the erasure not folded yet
    answer = await client.post("/v1/events", content=upload_body([again]), headers=account.headers)
    assert msgspec.json.decode(answer.content, type=BatchResult).accepted == 1
    logged = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert [(e.content_hash, e.text) for e in logged if isinstance(e, PageContent)] == [
        (again["content_hash"], "read before the erasure")
    ]


@pytest.mark.cluster
async def test_page_text_only_other_users_hold_is_logged_in_full(
    client: Client, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    """Left out, it would be answered sooner than a new text (no encoding, a small
    write): the timing would tell the uploader that someone else read the page."""
    from mindhit.streams import content_holders_key, content_key
    from schema.events import PageContent

    envelope = {"client_id": "ext-1", "session_id": uuid7(), "ts": 1_764_000_000_000}
    theirs = page_content(
        "https://clinic.example/", "your appointment is on Tuesday", event_id=uuid7(), seq=1,
        **envelope,
    )  # fmt: skip
    await aredis.set(content_key(settings.key_prefix, theirs["content_hash"]), b"x", ex=600)
    holders = content_holders_key(settings.key_prefix, theirs["content_hash"])
    await aredis.sadd(holders, str(uuid.uuid4()))  # another user's upload carried it
    answer = await client.post("/v1/events", content=upload_body([theirs]), headers=account.headers)
    assert msgspec.json.decode(answer.content, type=BatchResult).accepted == 1
    logged = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    assert [(e.content_hash, e.text) for e in logged if isinstance(e, PageContent)] == [
        (theirs["content_hash"], "your appointment is on Tuesday")
    ]
