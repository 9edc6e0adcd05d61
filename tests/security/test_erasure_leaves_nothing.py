"""Attack 5: surviving "erase all my data" with a fast clock, a dead letter and a retry.

A user whose browser clock runs a day ahead records a session through the real
gateway, processors and projector; the AI provider is down, so their pages become
dead letters (work items holding the page text). They erase all their data from the
dashboard. Afterwards: a retry of their dead letter finds nothing, re-uploading the
recorded batch is refused (tokens revoked), and nothing of them remains — not in a
read table, the archive, any Redis stream (raw, derived, dead letters, quarantine)
nor any per-user Redis key — while another user's data is untouched.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from mindhit.redis_client import connect_redis_sync
from schema.ids import uuid7
from schema.log import FIELD_VALUE, LogEntryError, decode_derived_entry, decode_raw_entry
from tests.e2e.pipeline import running_pipeline
from tests.security._web import ARTIFACTS, Browser, unique_email
from tests.security.test_session_hijack import event, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY_MS = 86_400_000
USER_TABLES = (
    "sessions",
    "page_visits",
    "mindmap_graphs",
    "urls",
    "overview_days",
    "overview_domains",
    "overview_pages_monthly",
    "overview_branches",
    "page_titles",
    "overview_changes",
    "event_log",
    "derived_log",
)


def _device(web_url: str, tag: str) -> tuple[Browser, str, str]:
    """A signed-up user with a device token: ``(browser, user_id, token)``."""
    browser = Browser(web_url)
    assert browser.sign_up(unique_email(tag)).status_code in (302, 303)
    created = browser.api("POST", "/v1/tokens", {"device": "laptop"})
    assert created.status_code == 201, created.text
    return browser, browser.me().json()["user_id"], created.json()["token"]


def _post(gateway: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{gateway}/v1/events",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _session_batch(session_id: str, ts: int, host: str) -> dict[str, Any]:
    pages = [f"https://{host}/secret-{i}" for i in range(2)]
    events = [event("session.started", session_id, 1, ts, label="Private matters")]
    for i, url in enumerate(pages):
        base = ts + 1_000 + i * 60_000
        events.append(
            event("tab.activated", session_id, 2 + 2 * i, base, tab_id=1, window_id=1, url=url)
        )
        text = f"The confidential diagnosis number {i} of {host}, {uuid7()}."
        events.append(
            event(
                "page.content",
                session_id,
                3 + 2 * i,
                base + 10,
                tab_id=1,
                url=url,
                title=f"Secret {i}",
                text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                lang="en",
            )
        )
    events.append(event("session.stopped", session_id, 10, ts + 200_000))
    return {"batch_id": uuid7(), "client_id": "ext-1", "events": events}


def _count(database_url: str, user_id: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE user_id = %s", (user_id,)
            ).fetchone()[0]  # type: ignore[index]
            for table in USER_TABLES
        }


def _stream_users(client: redis.Redis, prefix: str) -> set[str]:
    """Every user id any stream under ``prefix`` still holds an entry of."""
    found: set[str] = set()
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        if client.type(key) != b"stream":
            continue
        for _id, fields in client.xrange(key):
            if b"user_id" in fields:  # the quarantine
                found.add(fields[b"user_id"].decode())
                continue
            value = fields.get(FIELD_VALUE)
            if not isinstance(value, bytes):
                continue
            try:
                found.update(u.user_id for u in decode_raw_entry(value).uploads)
            except LogEntryError:
                try:
                    found.update(e.user_id for e in decode_derived_entry(value).events)
                except LogEntryError:
                    continue
    return found


def test_erasure_leaves_nothing_despite_a_fast_clock_dead_letters_and_a_retry(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    down = {
        "MINDHIT_AI_PROVIDER": "gemini",
        "MINDHIT_GEMINI_API_KEY": "k",
        "MINDHIT_GEMINI_BASE_URL": "http://127.0.0.1:9",  # nothing listens: every call fails
        "MINDHIT_AI_ATTEMPTS": "1",
        "MINDHIT_AI_TIMEOUT_S": "2",
    }
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path / "data",
        logs=ARTIFACTS / "erasure",
        extra_env=down,
    ) as pipeline:
        prefix = pipeline.env["MINDHIT_KEY_PREFIX"]
        client = connect_redis_sync(redis_url)
        browser, user_id, token = _device(pipeline.web_url, "erased")
        _other, other_id, other_token = _device(pipeline.web_url, "bystander")

        ahead = int(time.time() * 1000) + DAY_MS  # the client's clock runs a day fast
        session_id = uuid7(ahead)
        batch = _session_batch(session_id, ahead, "clinic.example")
        assert _post(pipeline.gateway_url, token, batch).json()["accepted"] == 6
        other_session = uuid7()
        mine = _session_batch(other_session, int(time.time() * 1000), "news.example")
        assert _post(pipeline.gateway_url, other_token, mine).json()["accepted"] == 6

        def settled() -> bool:
            counts = _count(database_url, user_id)
            letters = [v for v in _dead_letters(pipeline) if v["user_id"] == user_id]
            return counts["mindmap_graphs"] == 1 and counts["urls"] >= 2 and bool(letters)

        wait_for(settled, "the session's map, its pages and its dead letters", 120)
        letter = next(v for v in _dead_letters(pipeline) if v["user_id"] == user_id)
        assert _count(database_url, other_id)["sessions"] == 1

        assert browser.api("POST", "/v1/erase").status_code == 202

        left: list[dict[str, int]] = []

        def erased() -> bool:
            left[:] = [{k: v for k, v in _count(database_url, user_id).items() if v}]
            return not left[0]

        try:
            wait_for(erased, "the user's rows to be erased", 120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; rows left: {left}") from None
        # A retry of their dead letter finds nothing; re-uploading is refused.
        with pytest.raises(RuntimeError):
            pipeline.mindhit("dlq", "retry", letter["dlq_id"])
        assert _post(pipeline.gateway_url, token, batch).status_code in (401, 403)

        def purged() -> bool:
            return user_id not in _stream_users(client, prefix)

        wait_for(purged, "every stream entry of the user to be purged", 120)
        assert not any(_count(database_url, user_id).values())
        assert [k for k in client.scan_iter(match=f"{prefix}:*{user_id}*")] == []
        assert client.get(f"{prefix}:session-owner:{session_id}") is None
        with psycopg.connect(database_url) as conn:
            texts = conn.execute(
                "SELECT count(*) FROM page_texts WHERE text LIKE '%clinic.example%'"
            ).fetchone()
        assert texts == (0,)
        # The bystander keeps everything.
        assert _count(database_url, other_id)["sessions"] == 1
        client.close()


def _dead_letters(pipeline: Any) -> list[dict[str, Any]]:
    return list(json.loads(pipeline.mindhit("dlq", "list", "--json")))
