"""A queue an extension kept while its uploads were refused: whose account may it reach?

An extension keeps what it recorded while the gateway refuses its token (revoked, the
account erased, signed out everywhere) and uploads it once paired again. Two ways that
went wrong: a user who erased everything saw the browsing queued before the erasure come
back; and on a shared browser profile, what was queued while paired with Ann went into
the account paired next, Bob's.

Here the real dashboard (pairing) and the real gateway (uploads) on the test database:
the pairing tells the extension which account it is paired with (an opaque identifier:
the same for Ann through "sign out everywhere", another for Bob, another for Ann once she
erased her data, never her address), and the gateway keeps out of an erased account what
was recorded before the erasure, whichever token uploads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from ingest.app import create_app as create_gateway
from mindhit.settings import Settings
from schema.api import BatchResult
from tests.integration.ingest.conftest import logged_uploads, serve
from tests.integration.web.conftest import (
    NOW_MS,
    PASSWORD,
    csrf_from,
    sign_up,
    unique_email,
    user_id_of,
)
from tests.integration.web.test_pairing import confirm, pkce
from tests.unit.ingest.factories import event_dicts, upload_body
from web.app import create_app as create_web

pytestmark = pytest.mark.integration


@asynccontextmanager
async def dashboard(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """One browser on the dashboard (its own cookies), at the fixed time ``NOW_MS``."""
    app = create_web(settings, clock=lambda: NOW_MS)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as browser:
        yield browser


async def pair(browser: AsyncTestClient[Any], settings: Settings) -> dict[str, Any]:
    """ "Connect to MindHit" as the extension does: confirm in the signed-in browser, then
    exchange code and verifier without any cookie; the pairing answer."""
    verifier, challenge = pkce()
    code = await confirm(browser, challenge)
    async with dashboard(settings) as extension:
        answer = await extension.post(
            "/v1/pairing/exchange", json={"code": code, "verifier": verifier}
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def sign_in(browser: AsyncTestClient[Any], email: str) -> None:
    csrf = csrf_from((await browser.get("/login")).text)
    answer = await browser.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


async def test_the_pairing_names_the_account_stable_through_sign_out_everywhere_not_after_erasure(
    settings: Settings, apg: psycopg.AsyncConnection[Any]
) -> None:
    web_settings = msgspec.structs.replace(settings, secret_key="test-secret")
    ann, bob = unique_email("ann"), unique_email("bob")
    async with dashboard(web_settings) as ann_browser, dashboard(web_settings) as bob_browser:
        csrf = await sign_up(ann_browser, ann)
        first = await pair(ann_browser, web_settings)
        assert first["account"] and ann.split("@")[0] not in first["account"]
        assert await user_id_of(apg, ann) not in first["account"]
        assert (await pair(ann_browser, web_settings))["account"] == first["account"]

        # Sign out everywhere ends the token; paired again, it is the same account.
        ended = await ann_browser.post(
            "/v1/account/sign-out-everywhere", headers={"x-csrftoken": csrf}
        )
        assert ended.status_code == 200, ended.text
        await sign_in(ann_browser, ann)
        assert (await pair(ann_browser, web_settings))["account"] == first["account"]

        await sign_up(bob_browser, bob)
        assert (await pair(bob_browser, web_settings))["account"] != first["account"]

        # Erased: another account as far as anything queued before is concerned.
        csrf = csrf_from((await ann_browser.get("/settings")).text)
        erased = await ann_browser.post("/v1/erase", headers={"x-csrftoken": csrf})
        assert erased.status_code == 202, erased.text
        await sign_in(ann_browser, ann)
        after = await pair(ann_browser, web_settings)
        assert after["account"] not in (first["account"], "")
        assert (await pair(ann_browser, web_settings))["account"] == after["account"]


async def test_what_was_recorded_before_an_erasure_never_comes_back_whatever_token_sends_it(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    web_settings = msgspec.structs.replace(settings, secret_key="test-secret")
    ann = unique_email("ann")
    cut = NOW_MS + int(settings.token_cache_seconds * 1000)
    before = event_dicts(12, ts=NOW_MS - 3_600_000, host="clinic.example")
    async with dashboard(web_settings) as browser, serve(create_gateway(settings)) as gateway:
        csrf = await sign_up(browser, ann)
        old = await pair(browser, web_settings)
        sent = await gateway.post(
            "/v1/events",
            content=upload_body(before[:6]),
            headers={"Authorization": f"Bearer {old['token']}"},
        )
        assert sent.status_code == 202
        assert msgspec.json.decode(sent.content, type=BatchResult).accepted == 6
        logged = len(await logged_uploads(aredis, settings))

        erased = await browser.post("/v1/erase", headers={"x-csrftoken": csrf})
        assert erased.status_code == 202, erased.text
        await sign_in(browser, ann)
        new = await pair(browser, web_settings)

        # The extension kept the rest of its queue (and the batch it had sent) through the
        # erasure; paired again, it uploads them: nothing of them is stored.
        for events in (before[6:], before[:6]):
            answer = await gateway.post(
                "/v1/events",
                content=upload_body(events),
                headers={"Authorization": f"Bearer {new['token']}"},
            )
            assert answer.status_code == 202, answer.text
            result = msgspec.json.decode(answer.content, type=BatchResult)
            assert (result.accepted, result.blocked, result.rejected) == (0, 6, [])
        assert len(await logged_uploads(aredis, settings)) == logged

        # What the user records after the erasure is kept as ever.
        later = event_dicts(3, ts=cut + 1_000, host="news.example")
        answer = await gateway.post(
            "/v1/events",
            content=upload_body(before[:2] + later),
            headers={"Authorization": f"Bearer {new['token']}"},
        )
        result = msgspec.json.decode(answer.content, type=BatchResult)
        assert (result.accepted, result.blocked) == (3, 2)
        uploads = await logged_uploads(aredis, settings)
        assert len(uploads) == logged + 1
        assert [e.ts for e in uploads[-1][1].events] == [e["ts"] for e in later]
