"""The sessions a search hit was read in: five, newest first, never a deleted one.

The search finds a popular page's sessions (1,000 visits or more) by walking the user's
newest sessions and probing each for a visit of the page, and falls back to reading every
visit of the page when fewer than five turn up there; other pages are always read from
their visits. Each hit's sessions must be exactly those a plain reading of the rows
gives (ties on ``started_at`` by session id, sessions that never started first, a
session deleted or in its undo window never listed, a cancelled deletion listed), on
either path: popular pages read lately, read only long ago, read mostly in a deleted
session, and a page read only in deleted sessions, which is not found at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from web import store

from .conftest import NOW, unique_email

pytestmark = pytest.mark.integration

PAGES = {  # page -> (sessions it is read in, by index newest first; visits in each)
    "recent": (range(0, 40), 30),  # popular, in the newest sessions: the walk finds five
    "ancient": (range(30, 40), 120),  # popular, only in sessions past the walk: fallback
    "mostly_hidden": ((1, 3, 35), 400),  # popular through deleted sessions
    "sparse": ((2, 5, 9, 33), 3),  # not popular: read from its visits
    "deleted_only": ((1, 3), 600),  # read only in deleted sessions: never found
}


def _starts() -> list[datetime | None]:
    """Started-at per session, newest first: two never started, ties among the newest."""
    tied = NOW - timedelta(hours=1)
    return [None, None, tied, tied, tied, tied] + [NOW - timedelta(hours=2 + i) for i in range(34)]


async def _seed(apg: psycopg.AsyncConnection[Any]) -> tuple[str, list[str], set[str]]:
    user_id = str(uuid.uuid4())
    await apg.execute(
        "INSERT INTO users (user_id, email, password_hash) VALUES (%s, %s, 'x')",
        (user_id, unique_email("walker")),
    )
    sessions = [str(uuid.uuid4()) for _ in _starts()]
    for sid, started in zip(sessions, _starts(), strict=True):
        await apg.execute(
            "INSERT INTO sessions (session_id, user_id, status, started_at)"
            " VALUES (%s, %s, 'completed', %s)",
            (sid, user_id, started),
        )
    for page, (where, each) in PAGES.items():
        url_hash = uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}/{page}").hex
        await apg.execute(
            "INSERT INTO urls (url_hash, content_hash, user_id, url, title, domain)"
            " VALUES (%s, '', %s, %s, %s, 'w.example')",
            (url_hash, user_id, f"https://w.example/{page}", f"Wombat {page}"),
        )
        for i in where:
            await apg.execute(
                "INSERT INTO page_visits (visit_id, user_id, session_id, client_id, url_hash,"
                " url, title, domain, start_at, end_at, dwell_ms)"
                " SELECT gen_random_uuid(), %(u)s, %(s)s, 'c', %(h)s, %(url)s, %(t)s,"
                "        'w.example', %(at)s + n * interval '1 minute',"
                "        %(at)s + n * interval '1 minute', 1000"
                " FROM generate_series(1, %(n)s) n",
                {"u": user_id, "s": sessions[i], "h": url_hash, "n": each,
                 "url": f"https://w.example/{page}", "t": f"Wombat {page}",
                 "at": NOW - timedelta(days=2) + timedelta(hours=i)},
            )  # fmt: skip
    await apg.execute(  # the search's titles, as the projector's rollup keeps them
        "INSERT INTO page_titles (user_id, url_hash, content_hash, title, visits, search)"
        " SELECT user_id, url_hash, content_hash, title, count(*),"
        "        setweight(to_tsvector('english', title), 'A')"
        " FROM page_visits WHERE user_id = %s GROUP BY 1, 2, 3, 4",
        (user_id,),
    )
    hidden = {sessions[1]: "pending", sessions[3]: "done", sessions[4]: "cancelled"}
    for sid, state in hidden.items():
        await apg.execute(
            "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at, state)"
            " VALUES (%s, %s, %s, %s, %s)",
            (user_id, sid, NOW, NOW + timedelta(hours=1), state),
        )
    return user_id, sessions, {s for s, state in hidden.items() if state != "cancelled"}


async def _expected(
    apg: psycopg.AsyncConnection[Any], user_id: str, hidden: set[str]
) -> dict[str, list[str]]:
    """Per page URL: its first five sessions: never started first, then started_at desc, then id."""
    cur = await apg.execute(
        "SELECT DISTINCT v.url, s.session_id::text, s.started_at FROM page_visits v"
        " JOIN sessions s ON s.session_id = v.session_id WHERE v.user_id = %s",
        (user_id,),
    )
    found: dict[str, list[tuple[str, datetime | None]]] = {}
    for url, sid, started in await cur.fetchall():
        if sid not in hidden:
            found.setdefault(url, []).append((sid, started))
    out = {}
    for url, rows in found.items():
        rows.sort(key=lambda r: (r[1] is not None, -r[1].timestamp() if r[1] else 0.0, r[0]))
        out[url] = [sid for sid, _ in rows[:5]]
    return out


async def test_a_hits_sessions_are_the_five_newest_it_was_read_in(
    apg: psycopg.AsyncConnection[Any],
) -> None:
    user_id, _sessions, hidden = await _seed(apg)
    expected = await _expected(apg, user_id, hidden)
    assert sorted(len(sids) for sids in expected.values()) == [1, 4, 5, 5]

    found = await store.search(apg, user_id, "wombat")
    got = {h.url: [s.session_id for s in h.sessions] for h in found.hits}
    assert got == expected  # deleted_only is not found: no visible visit
