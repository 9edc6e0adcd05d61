"""The gateway applies the extension's URL rules again: what a modified client sends is cut."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from schema.api import BatchResult
from schema.events import PageContent, TabActivated, TabUpdated
from schema.ids import uuid7
from tests.integration.ingest.conftest import Account, logged_uploads
from tests.unit.ingest.factories import page_content, upload_body

pytestmark = pytest.mark.integration


def _tab(url: str, title: str, seq: int, **envelope: Any) -> dict[str, Any]:
    return envelope | {
        "event_id": uuid7(),
        "seq": seq,
        "type": "tab.activated",
        "tab_id": seq,
        "window_id": 1,
        "url": url,
        "title": title,
    }


async def test_secrets_fragments_and_non_pages_never_reach_the_log(
    client: httpx.AsyncClient, account: Account, aredis: aioredis.Redis, settings: Settings
) -> None:
    envelope = {"client_id": "ext-1", "session_id": uuid7(), "ts": 1_764_000_000_000}
    tabs = [
        ("https://app.example/cb?code=oauth-code-1&state=st-2&view=list#id_token=jwt-3", "Inbox"),
        ("file:///home/alice/diary.html", "Diary of Alice"),
        ("chrome://settings/passwords", "Passwords"),
        ("about:blocked", "leaked-title"),
        ("https://bob:hunter2@intranet.example/x?X-Amz-Signature=sig-4&a=1", "Intranet"),
        ("https://sso.example/login?ticket=tkt-6", "sso.example/login?ticket=tkt-6"),
    ]
    events = [_tab(url, title, i, **envelope) for i, (url, title) in enumerate(tabs)]
    events.append(
        envelope
        | {
            "event_id": uuid7(),
            "seq": 6,
            "type": "tab.updated",
            "tab_id": 1,
            "window_id": 1,
            "url": "data:text/html,<p>data-secret</p>",
            "title": "data-title",
            "change": "title",
        }
    )
    texts = [
        ("file:///home/alice/diary.html", "diary-text"),
        ("https://news.example/a?session=sess-5#para", "article text"),
    ]
    events += [
        page_content(url, text, event_id=uuid7(), seq=7 + i, **envelope)
        for i, (url, text) in enumerate(texts)
    ]
    answer = await client.post("/v1/events", content=upload_body(events), headers=account.headers)
    result = msgspec.json.decode(answer.content, type=BatchResult)
    assert (result.accepted, result.blocked, result.rejected) == (8, 1, [])

    logged = [e for _, up in await logged_uploads(aredis, settings) for e in up.events]
    raw = msgspec.json.encode(logged).decode()
    for secret in (
        "oauth-code-1",
        "st-2",
        "jwt-3",
        "sig-4",
        "hunter2",
        "sess-5",
        "diary",
        "Diary",
        "Passwords",
        "leaked-title",
        "data-secret",
        "data-title",
        "tkt-6",
        "#",
    ):
        assert secret not in raw, secret
    assert [(e.url, e.title) for e in logged if isinstance(e, TabActivated | TabUpdated)] == [
        ("https://app.example/cb?view=list", "Inbox"),
        ("about:blank", ""),
        ("about:blank", ""),
        ("about:blocked", ""),
        ("https://intranet.example/x?a=1", "Intranet"),
        ("https://sso.example/login", ""),
        ("about:blank", ""),
    ]
    assert [(e.url, e.text) for e in logged if isinstance(e, PageContent)] == [
        ("https://news.example/a", "article text")
    ]
