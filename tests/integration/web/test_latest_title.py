"""A page's title in the overview and in search is the latest one its user saw there.

The latest titled visit is looked for across every content version of the page the user
read (not only the version the figure or hit is about), never among another user's
visits, and not in a session the user deleted (even within the undo window).
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

DAY = NOW.date().isoformat()
URL = "https://harbour.example/log"


def _visit(version: str, title: str) -> dict[str, Any]:
    return {
        "url": URL,
        "domain": "harbour.example",
        "content_hash": version * 64,
        "title": title,
        "text": "Notes on the harbour and its boats.",
        "dwell_ms": 60_000,
    }


async def _titles(client: AsyncTestClient[Any]) -> tuple[list[str], list[str]]:
    overview = (await client.get("/v1/overview", params={"period": "week", "date": DAY})).json()
    hits = (await client.get("/v1/search", params={"q": "harbour"})).json()["hits"]
    return [p["label"] for p in overview["pages"]], [h["title"] for h in hits]


async def test_the_latest_title_seen_across_versions_hidden_sessions_excluded(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    other = str(uuid.uuid4())
    await apg.execute(
        "INSERT INTO users (user_id, email, password_hash) VALUES (%s, %s, 'x')",
        (other, unique_email("other")),
    )
    email = unique_email("reader")
    token = await sign_up(client, email)
    uid = await user_id_of(apg, email)
    await add_session(apg, uid, started=NOW - timedelta(hours=3), visits=[_visit("a", "Old")])
    newest = await add_session(
        apg, uid, started=NOW - timedelta(hours=2), visits=[_visit("b", "Newest")]
    )
    # the latest visit, of the first version, has no title
    await add_session(apg, uid, started=NOW - timedelta(hours=1), visits=[_visit("a", "")])
    # another user's later title of the same page is never this user's
    await add_session(apg, other, started=NOW - timedelta(minutes=30), visits=[_visit("b", "X")])
    with psycopg.connect(database_url) as conn, conn.transaction():
        rebuild_user(conn, live_tables(), uid)

    assert await _titles(client) == (["Newest"], ["Newest"])

    deleted = await client.post(f"/v1/sessions/{newest}/deletion", headers={"x-csrftoken": token})
    assert deleted.status_code == 202, deleted.text
    assert await _titles(client) == (["Old"], ["Old"])
