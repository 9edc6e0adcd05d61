"""Fixtures for the dashboard's integration tests: the real app on real PostgreSQL/Redis.

Read-model rows are written with plain SQL in the projector's table shapes
(``mindhit/migrations/010_read_models.sql``): these tests check the dashboard's queries,
pages and scoping; the browser e2e test drives the real pipeline.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from mindhit.cli.openapi import combined_openapi
from mindhit.settings import Settings
from web.app import create_app

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
PASSWORD = "correct horse battery"


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """Test settings with a fixed secret and an admin address."""
    return msgspec.structs.replace(
        settings, secret_key="test-secret", admin_emails=("admin@example.com",)
    )


@pytest.fixture
async def client(web_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """A test client of the real app (lifespan opens the real pool and Redis).

    The combined OpenAPI document is handed in as ``mindhit web`` does.
    """
    app = create_app(
        web_settings,
        clock=lambda: NOW_MS,
        openapi_document=partial(combined_openapi, web_settings),
    )
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def csrf_from(html: str) -> str:
    """The CSRF token embedded in a rendered page."""
    match = re.search(r'name="csrf-token" content="([^"]*)"', html)
    assert match, "page has no csrf token"
    return match.group(1)


async def sign_up(client: AsyncTestClient[Any], email: str) -> str:
    """Create an account through the forms (development without mail: the sign-up page
    shows the link that finishes it) and be signed in; return the CSRF token to use."""
    page = await client.get("/signup")
    token = csrf_from(page.text)
    asked = await client.post(
        "/signup",
        data={"email": email, "password": PASSWORD, "password2": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert asked.status_code == 200, asked.text
    link = re.search(
        r'href="[^"]*/signup/finish\?token=([A-Za-z0-9_-]+)" id="finish-link"', asked.text
    )
    assert link, "the development sign-up page shows no link"
    answer = await client.post(
        "/signup/finish",
        data={"token": link.group(1), "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return token


async def confirm_address(apg: psycopg.AsyncConnection[Any], email: str) -> None:
    """Mark ``email``'s address confirmed, as its owner opening the mailed link would."""
    from mindhit.accounts import confirm_email, find_user

    user = await find_user(apg, email)
    assert user is not None
    assert await confirm_email(apg, user.user_id, user.email, now=NOW)


def unique_email(tag: str = "user") -> str:
    """A fresh email address for one test."""
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


async def user_id_of(apg: psycopg.AsyncConnection[Any], email: str) -> str:
    """The id of the user with ``email``."""
    cur = await apg.execute("SELECT user_id::text FROM users WHERE email = %s", (email,))
    row = await cur.fetchone()
    assert row is not None
    return str(row[0])


async def add_session(
    apg: psycopg.AsyncConnection[Any],
    user_id: str,
    *,
    started: datetime = NOW - timedelta(hours=2),
    status: str = "completed",
    label: str = "",
    visits: list[dict[str, Any]] | None = None,
    mindmap: dict[str, Any] | None = None,
) -> str:
    """Write a session, its visits (with url/page-text rows) and its mind map."""
    session_id = str(uuid.uuid4())
    visits = visits or []
    stopped = started + timedelta(minutes=45) if status != "recording" else None
    await apg.execute(
        "INSERT INTO sessions (session_id, user_id, status, label, started_at, stopped_at,"
        " active_ms, page_count, domain_count, last_event_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            session_id,
            user_id,
            status,
            label,
            started,
            stopped,
            sum(v.get("dwell_ms", 60_000) for v in visits),
            len(visits),
            len({v["domain"] for v in visits}),
            stopped or started,
        ),
    )
    at = started
    for index, visit in enumerate(visits):
        url_hash = visit.get("url_hash") or uuid.uuid5(uuid.NAMESPACE_URL, visit["url"]).hex
        content_hash = visit.get("content_hash", url_hash.ljust(64, "0")[:64])
        dwell = visit.get("dwell_ms", 60_000)
        start = visit.get("start_at", at)
        end = start + timedelta(milliseconds=dwell)
        at = end + timedelta(milliseconds=visit.get("gap_ms", 5_000))
        await apg.execute(
            "INSERT INTO page_texts (content_hash, lang, text) VALUES (%s, 'en', %s)"
            " ON CONFLICT DO NOTHING",
            (content_hash, visit.get("text", "")),
        )
        await apg.execute(
            "INSERT INTO urls (url_hash, content_hash, user_id, url, title, domain, summary,"
            " tags, topic, enriched_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (
                url_hash,
                content_hash,
                user_id,
                visit["url"],
                visit.get("title", ""),
                visit["domain"],
                visit.get("summary", ""),
                visit.get("tags", []),
                visit.get("topic", ""),
                NOW,
            ),
        )
        await apg.execute(
            "INSERT INTO page_visits (visit_id, user_id, session_id, client_id, url_hash,"
            " content_hash, url, title, domain, start_at, end_at, dwell_ms, opened_seq)"
            " VALUES (%s, %s, %s, 'c1', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                str(uuid.uuid4()),
                user_id,
                session_id,
                url_hash,
                content_hash,
                visit["url"],
                visit.get("title", ""),
                visit["domain"],
                start,
                end,
                dwell,
                index,
            ),
        )
        await apg.execute(  # the search's titles, as the projector's rollup keeps them
            "INSERT INTO page_titles AS o (user_id, url_hash, content_hash, title, visits,"
            " search) VALUES (%(u)s, %(h)s, %(c)s, %(t)s, 1,"
            " setweight(to_tsvector('english', %(t)s), 'A'))"
            " ON CONFLICT (user_id, url_hash, content_hash, title)"
            " DO UPDATE SET visits = o.visits + 1",
            {"u": user_id, "h": url_hash, "c": content_hash, "t": visit.get("title", "")},
        )
    if mindmap is not None:
        await apg.execute(
            "INSERT INTO mindmap_graphs (session_id, user_id, graph, provider, built_at)"
            " VALUES (%s, %s, %s, 'local', %s)",
            (session_id, user_id, psycopg.types.json.Jsonb(mindmap), NOW),
        )
    return session_id
