"""Sessions, timeline, mind map, search and scoping: what a signed-in user sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from tests.integration.web.conftest import (
    NOW,
    NOW_MS,
    add_session,
    sign_up,
    unique_email,
    user_id_of,
)

pytestmark = pytest.mark.integration

MAP = {
    "label": "Stars & Money",
    "why": "two topics",
    "children": [
        {
            "label": "Stars",
            "summary": "A red giant sheds its shell as a planetary nebula.",
            "children": [
                {"label": "Life of stars", "url": "https://a.example/stars", "weight_ms": 90_000},
                {"label": "Moon", "url": "https://a.example/moon", "weight_ms": 30_000},
            ],
        },
        {"label": "Money", "children": [{"label": "IRA", "url": "https://b.example/ira"}]},
    ],
}
VISITS = [
    {
        "url": "https://a.example/stars",
        "domain": "a.example",
        "title": "Life of stars",
        "text": "A red giant swells before it sheds its shell as a planetary nebula.",
        "summary": "How stars age.",
        "tags": ["stars", "nebula"],
        "topic": "Astronomy",
        "dwell_ms": 90_000,
    },
    {
        "url": "https://a.example/moon",
        "domain": "a.example",
        "title": "Moon",
        "dwell_ms": 30_000,
        "gap_ms": 300_000,
    },
    {"url": "https://b.example/ira", "domain": "b.example", "title": "IRA", "dwell_ms": 45_000},
]


async def _user_with_session(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> tuple[str, str, str]:
    email = unique_email()
    token = await sign_up(client, email)
    uid = await user_id_of(apg, email)
    sid = await add_session(apg, uid, label="Evening reading", visits=VISITS, mindmap=MAP)
    return token, uid, sid


async def test_session_list_shows_duration_active_time_pages_domains_and_status(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    _, uid, sid = await _user_with_session(client, apg)
    await add_session(apg, uid, started=NOW - timedelta(minutes=5), status="recording")
    failed = await add_session(apg, uid, started=NOW - timedelta(days=2), status="failed")
    await apg.execute(
        "UPDATE sessions SET status_reason = 'AI quota exhausted' WHERE session_id = %s",
        (failed,),
    )
    listing = (await client.get("/v1/sessions")).json()["sessions"]
    assert [s["status"] for s in listing] == ["recording", "ready", "failed"]
    ready = listing[1]
    assert ready["session_id"] == sid and ready["label"] == "Evening reading"
    assert ready["duration_ms"] == 45 * 60_000 and ready["active_ms"] == 165_000
    assert ready["page_count"] == 3 and ready["top_domains"] == ["a.example", "b.example"]
    assert listing[2]["reason"] == "AI quota exhausted"
    page = (await client.get("/sessions")).text
    assert "Evening reading" in page and "45 min" in page and "AI quota exhausted" in page
    assert 'action="/sessions/' in page and "/stop" in page  # the recording one can be stopped


async def test_timeline_orders_visits_with_idle_gaps_and_domain_totals(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    _, _, sid = await _user_with_session(client, apg)
    body = (await client.get(f"/v1/sessions/{sid}")).json()
    kinds = [e["kind"] for e in body["entries"]]
    assert kinds == ["visit", "visit", "gap", "visit"]
    assert body["entries"][0]["visit"]["summary"] == "How stars age."
    assert body["entries"][0]["bar"] == 1.0
    assert [(d["domain"], d["dwell_ms"]) for d in body["domains"]] == [
        ("a.example", 120_000),
        ("b.example", 45_000),
    ]
    page = (await client.get(f"/sessions/{sid}")).text
    assert "How stars age." in page and "nebula" in page and "Away for 5 min" in page
    # the summary and tags are on the visit's line itself, not only in its details
    line = page.split('<span class="page">', 1)[1].split("</summary>", 1)[0]
    assert 'class="gist">How stars age.' in line and '<span class="chip">nebula</span>' in line


async def test_coming_back_to_the_same_page_does_not_repeat_its_summary_and_tags(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    await sign_up(client, email := unique_email())
    stars = {**VISITS[0], "gap_ms": 240_000}
    sid = await add_session(apg, await user_id_of(apg, email), visits=[stars, stars, VISITS[2]])
    page = (await client.get(f"/sessions/{sid}")).text
    lines = [part.split("</summary>", 1)[0] for part in page.split('<span class="page">')[1:]]
    assert len(lines) == 3 and "Away for 4 min" in page
    assert 'class="gist">How stars age.' in lines[0] and "nebula" in lines[0]
    # Back after the gap: the line says so instead of the same summary and tags again...
    assert "Back on this page" in lines[1] and "How stars age." not in lines[1]
    assert "nebula" not in lines[1] and "Back on this page" not in lines[2]
    # ...and its details still hold them.
    details = page.split('<li class="visit again">', 1)[1].split("</li>", 1)[0]
    assert '<p class="summary">How stars age.</p>' in details and "nebula" in details


async def test_mind_map_json_and_markdown_export(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    _, _, sid = await _user_with_session(client, apg)
    view = (await client.get(f"/v1/sessions/{sid}/mindmap")).json()
    nodes = {n["id"]: n for n in view["graph"]["nodes"]}
    assert nodes["n0"]["label"] == "Stars & Money" and nodes["n0.0"]["weight_ms"] == 120_000
    assert len(view["graph"]["edges"]) == len(nodes) - 1
    md = await client.get(f"/sessions/{sid}/map.md")
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Stars & Money\n")
    assert "- Stars — 2.0 min" in md.text
    assert "  - [Life of stars](<https://a.example/stars>) — 1.5 min" in md.text
    page = (await client.get(f"/sessions/{sid}/map")).text
    assert 'src="/static/dist/mindmap.js"' in page
    # Without JavaScript (or with a keyboard) the outline lists every topic and page.
    assert 'class="outline"' in page and ">Life of stars</a>" in page and "<b>Money</b>" in page
    assert nodes["n0.0"]["summary"] == "A red giant sheds its shell as a planetary nebula."
    assert 'class="summary">A red giant sheds' in page
    assert view["fallback_from"] == "" and "fallback" not in page


async def test_a_map_built_by_the_fallback_says_so(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email()
    await sign_up(client, email)
    uid = await user_id_of(apg, email)
    sid = await add_session(apg, uid, visits=VISITS, mindmap={**MAP, "fallback_from": "openai"})
    view = (await client.get(f"/v1/sessions/{sid}/mindmap")).json()
    assert view["provider"] == "local" and view["fallback_from"] == "openai"
    page = (await client.get(f"/sessions/{sid}/map")).text
    assert "(fallback: openai failed)" in page


async def test_search_finds_page_text_and_links_to_the_session(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    _, _, sid = await _user_with_session(client, apg)
    hits = (await client.get("/v1/search", params={"q": "nebula"})).json()["hits"]
    assert [h["title"] for h in hits] == ["Life of stars"]
    start, end = hits[0]["highlights"][0]
    assert hits[0]["snippet"][start:end].lower().startswith("nebula")
    assert hits[0]["sessions"][0]["session_id"] == sid
    assert (await client.get("/v1/search", params={"q": "zyzzyva"})).json()["hits"] == []
    page = (await client.get("/search", params={"q": "nebula"})).text
    assert "<mark>nebula</mark>" in page and f"/sessions/{sid}" in page


async def test_another_users_session_is_404_everywhere_and_search_is_scoped(
    client: AsyncTestClient[Any], web_settings: Any, apg: psycopg.AsyncConnection[Any]
) -> None:
    _, _, sid = await _user_with_session(client, apg)
    from web.app import create_app

    async with AsyncTestClient(app=create_app(web_settings, clock=lambda: NOW_MS)) as other:
        token = await sign_up(other, unique_email("other"))
        for path in (
            f"/sessions/{sid}",
            f"/sessions/{sid}/map",
            f"/sessions/{sid}/map.md",
            f"/v1/sessions/{sid}",
            f"/v1/sessions/{sid}/mindmap",
            "/v1/sessions/not-a-uuid",
        ):
            assert (await other.get(path)).status_code == 404, path
        stop = await other.post(f"/v1/sessions/{sid}/end", headers={"x-csrftoken": token})
        assert stop.status_code == 404
        assert (await other.get("/v1/sessions")).json()["sessions"] == []
        assert (await other.get("/v1/search", params={"q": "nebula"})).json()["hits"] == []


async def test_the_session_list_pages_through_older_sessions(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any]
) -> None:
    email = unique_email()
    await sign_up(client, email)
    uid = await user_id_of(apg, email)
    for day in range(53):
        await add_session(apg, uid, started=NOW - timedelta(days=day))
    first = (await client.get("/v1/sessions")).json()
    assert len(first["sessions"]) == 50 and first["next_before"]
    rest = (await client.get("/v1/sessions", params={"before": first["next_before"]})).json()
    assert len(rest["sessions"]) == 3 and rest["next_before"] is None
    seen = {s["session_id"] for s in first["sessions"]} | {
        s["session_id"] for s in rest["sessions"]
    }
    assert len(seen) == 53
    assert "Older sessions" in (await client.get("/sessions")).text


async def test_another_users_version_of_the_same_page_is_never_shown_or_found(
    client: AsyncTestClient[Any], web_settings: Any, apg: psycopg.AsyncConnection[Any]
) -> None:
    """A personalized page (same URL, different content) stays with whoever saw it."""
    url = "https://mail.example/inbox"
    url_hash = "f" * 64
    other_email = unique_email("b")
    from web.app import create_app

    async with AsyncTestClient(app=create_app(web_settings, clock=lambda: NOW_MS)) as other:
        await sign_up(other, other_email)
    await add_session(
        apg,
        await user_id_of(apg, other_email),
        visits=[
            {
                "url": url,
                "url_hash": url_hash,
                "content_hash": "b" * 64,
                "domain": "mail.example",
                "title": "Inbox (B)",
                "text": "Your salary statement for November",
                "summary": "B's salary statement.",
                "tags": ["salary"],
            }
        ],
    )
    email = unique_email("a")
    await sign_up(client, email)
    sid = await add_session(
        apg,
        await user_id_of(apg, email),
        visits=[
            {
                "url": url,
                "url_hash": url_hash,
                "content_hash": "",
                "domain": "mail.example",
                "title": "Inbox",
            }
        ],
    )
    assert (await client.get("/v1/search", params={"q": "salary"})).json()["hits"] == []
    visit = (await client.get(f"/v1/sessions/{sid}")).json()["entries"][0]["visit"]
    assert visit["summary"] == "" and visit["tags"] == [] and visit["title"] == "Inbox"
