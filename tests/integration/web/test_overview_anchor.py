"""Where the overview opens: the period of the user's latest activity when no day is asked.

On a Monday the calendar week holds nothing yet; a person asking "where did my week go?"
wants the week that went, not an empty chart. A day asked for is shown as it is, and
another user's activity never moves where this user's overview opens, nor does a session
the user deleted (still in the rollups while its undo window lasts).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from projector.overview import rebuild_user
from projector.pg import live_tables

from .conftest import NOW, add_session, sign_up, unique_email, user_id_of

pytestmark = pytest.mark.integration

TEN_DAYS_AGO = NOW - timedelta(days=10)  # NOW is a Thursday: this is the Monday before last
VISIT = {
    "url": "https://tides.example/table",
    "domain": "tides.example",
    "content_hash": "c" * 64,
    "title": "Tide tables",
    "text": "High water at the harbour mouth.",
    "dwell_ms": 90_000,
}


async def _week(client: AsyncTestClient[Any], **params: str) -> dict[str, Any]:
    answer = await client.get("/v1/overview", params={"period": "week", **params})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_overview_opens_on_the_latest_active_week_and_shows_an_asked_day_as_is(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    # A brand-new user's overview opens on today's week.
    email = unique_email("tides")
    await sign_up(client, email)
    uid = await user_id_of(apg, email)
    this_week = await _week(client)
    assert this_week["start"] <= NOW.date().isoformat() < this_week["end"]

    await add_session(apg, uid, started=TEN_DAYS_AGO, visits=[VISIT])
    # someone else browsing today moves nothing of this user's
    other = str(uuid.uuid4())
    await apg.execute(
        "INSERT INTO users (user_id, email, password_hash) VALUES (%s, %s, 'x')",
        (other, unique_email("other")),
    )
    await add_session(apg, other, started=NOW - timedelta(hours=1), visits=[VISIT])
    with psycopg.connect(database_url) as conn, conn.transaction():
        rebuild_user(conn, live_tables(), uid)
        rebuild_user(conn, live_tables(), other)

    opened = await _week(client)
    assert opened["start"] == TEN_DAYS_AGO.date().isoformat()
    assert opened["total_ms"] == 90_000 and [p["label"] for p in opened["pages"]] == ["Tide tables"]
    asked = await _week(client, date=NOW.date().isoformat())
    assert asked["start"] == this_week["start"] and asked["total_ms"] == 0
    page = await client.get("/overview")
    assert page.status_code == 200 and TEN_DAYS_AGO.date().isoformat() in page.text


async def test_a_day_whose_only_session_was_deleted_does_not_anchor_the_overview(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    token = await sign_up(client, email := unique_email("undo"))
    uid = await user_id_of(apg, email)
    await add_session(apg, uid, started=TEN_DAYS_AGO, visits=[VISIT])
    latest = await add_session(apg, uid, started=NOW - timedelta(days=3), visits=[VISIT])
    with psycopg.connect(database_url) as conn, conn.transaction():
        rebuild_user(conn, live_tables(), uid)
    three_days_ago = (NOW - timedelta(days=3)).date()
    its_week = (three_days_ago - timedelta(days=three_days_ago.weekday())).isoformat()
    assert (await _week(client))["start"] == its_week  # opens on the latest session's week
    headers = {"x-csrftoken": token}
    deleted = await client.post(f"/v1/sessions/{latest}/deletion", headers=headers)
    assert deleted.status_code == 202, deleted.text
    # Within the undo window the rollups still hold it; the overview opens on the week
    # that still has something to show, not on an empty one.
    opened = await _week(client)
    assert opened["start"] == TEN_DAYS_AGO.date().isoformat() and opened["total_ms"] == 90_000
    await client.delete(f"/v1/sessions/{latest}/deletion", headers=headers)  # undone
    assert (await _week(client))["start"] == its_week
