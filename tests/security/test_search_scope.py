"""Search starts from the user's own visits: no other user's row is read or ranked.

Forty other users read pages full of the same word as the victim. The victim searches
through the real dashboard (and gets only their own pages); then the dashboard's own
search SQL is run under ``EXPLAIN ANALYZE``: every read of ``urls`` and ``page_texts``
must be a per-pair probe driven by the victim's visits (at most one row per pair the
victim visited), never a scan of everyone's matches, and ``page_visits`` and
``page_titles`` are only read through the victim's user id (``page_visits`` also by the
ids of the sessions the victim deleted or the search walks, filtered by it), and
``sessions`` only with it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.web.conftest import add_session
from tests.security._web import ROOT, Browser, WebServer, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OTHERS, PAGES_EACH, MINE = 40, 250, 30
SEARCH_SQL = (ROOT / "web" / "sql" / "search.sql").read_text()


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard."""
    with running_web(redis_url, database_url) as server:
        yield server


@pytest.fixture
def crowd(database_url: str) -> Iterator[None]:
    """Many other users' rows (visits, urls, page texts) that all match "wombat"."""
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO page_texts (content_hash, text)"
            " SELECT md5(%(tag)s || n) || md5(n || %(tag)s),"
            "        'the wombat digs a burrow, wombat number ' || n"
            " FROM generate_series(1, %(rows)s) n",
            {"tag": tag, "rows": OTHERS * PAGES_EACH},
        )
        conn.execute(
            "INSERT INTO urls (url_hash, content_hash, url, title, domain, summary)"
            " SELECT md5(%(tag)s || n), md5(%(tag)s || n) || md5(n || %(tag)s),"
            "        'https://w.example/' || n, 'Wombat ' || n, 'w.example', 'wombat facts'"
            " FROM generate_series(1, %(rows)s) n",
            {"tag": tag, "rows": OTHERS * PAGES_EACH},
        )
        conn.execute(
            "INSERT INTO page_visits (visit_id, user_id, session_id, client_id, url_hash,"
            " content_hash, url, title, domain, start_at, end_at, dwell_ms)"
            " SELECT gen_random_uuid(), u.id, u.sid, 'c', md5(%(tag)s || n),"
            "        md5(%(tag)s || n) || md5(n || %(tag)s), 'https://w.example/' || n, '',"
            "        'w.example', now(), now(), 1000"
            " FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS sid, k"
            "       FROM generate_series(0, %(others)s - 1) k) u,"
            "      generate_series(1, %(rows)s) n"
            " WHERE n %% %(others)s = u.k",
            {"tag": tag, "rows": OTHERS * PAGES_EACH, "others": OTHERS},
        )
        conn.execute(  # their titles, as the projector's rollup of their visits has them
            "INSERT INTO page_titles (user_id, url_hash, content_hash, title, visits, search)"
            " SELECT user_id, url_hash, content_hash, title, count(*),"
            "        setweight(to_tsvector('english', title), 'A')"
            " FROM page_visits WHERE url_hash IN"
            " (SELECT md5(%(tag)s || n) FROM generate_series(1, %(rows)s) n)"
            " GROUP BY 1, 2, 3, 4",
            {"tag": tag, "rows": OTHERS * PAGES_EACH},
        )
        conn.execute("ANALYZE page_visits, page_titles, urls, page_texts")
    yield
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in ("page_visits", "page_titles"):
            conn.execute(f"DELETE FROM {table} WHERE url_hash IN"  # type: ignore[arg-type]
                         " (SELECT md5(%s || n) FROM generate_series(1, %s) n)",
                         (tag, OTHERS * PAGES_EACH))  # fmt: skip


def _victim_pages(database_url: str, email: str) -> str:
    visits = [
        {
            "url": f"https://mine.example/{i}",
            "title": f"My wombat notes {i}",
            "domain": "mine.example",
            "text": f"wombat diary page {i}",
            "url_hash": uuid.uuid4().hex,
            "content_hash": uuid.uuid4().hex * 2,
        }
        for i in range(MINE)
    ]

    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT user_id::text FROM users WHERE email = %s", (email,))
            row = await cur.fetchone()
            assert row is not None
            await add_session(conn, row[0], visits=visits)
            # and a session they deleted (in its undo window): its visits are read by
            # session id (the deletion is theirs), never found
            hidden = await add_session(conn, row[0], visits=[
                {**v, "title": "Hidden wombat", "url": v["url"].replace("mine", "hidden"),
                 "url_hash": uuid.uuid4().hex}
                for v in visits[:5]
            ])  # fmt: skip
            await conn.execute(
                "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at)"
                " VALUES (%s, %s, now(), now() + interval '1 hour')",
                (row[0], hidden),
            )
            return str(row[0])

    return asyncio.run(go())


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _rows_read(node: dict[str, Any]) -> float:
    per_loop = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
    )
    return float(per_loop * node.get("Actual Loops", 1))


def test_search_reads_and_ranks_only_the_users_own_pages(
    web: WebServer, database_url: str, crowd: None
) -> None:
    victim = Browser(web.url, source="127.0.0.50")
    email = unique_email("searcher")
    assert victim.sign_up(email).status_code == 303
    user_id = _victim_pages(database_url, email)

    found = victim.client.get("/v1/search", params={"q": "wombat"}).json()
    assert len(found["hits"]) == 20  # the page size, all of them the victim's
    assert all(h["url"].startswith("https://mine.example/") for h in found["hits"])
    hidden = victim.client.get("/v1/search", params={"q": "hidden wombat"}).json()
    assert hidden["hits"] == []

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        row = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + SEARCH_SQL,
            {"user_id": user_id, "q": "wombat", "limit": 20},
        ).fetchone()
    assert row is not None
    nodes = list(_nodes(row[0][0]["Plan"]))
    for node in nodes:
        relation = node.get("Relation Name")
        if relation in ("urls", "page_texts"):
            assert node.get("Index Name") not in ("urls_search", "page_texts_search"), node
            assert _rows_read(node) <= MINE, (relation, node["Node Type"], _rows_read(node))
        if relation in ("page_visits", "page_titles"):
            condition = node.get("Index Cond", "") + node.get("Recheck Cond", "")
            by_session = "session_id" in condition and "user_id" in node.get("Filter", "")
            assert "user_id" in condition or (relation == "page_visits" and by_session), node
        if relation == "sessions":  # listed for a hit, or walked to find a popular page's
            condition = node.get("Index Cond", "") + node.get("Recheck Cond", "")
            assert "user_id" in condition + node.get("Filter", ""), node
    assert any(n.get("Relation Name") == "page_visits" for n in nodes)
    assert any(n.get("Relation Name") == "page_titles" for n in nodes)
    assert any(n.get("Relation Name") == "sessions" for n in nodes)
