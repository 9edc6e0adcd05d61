"""End to end: the real extension in real Chromium, against the real gateway and Redis.

The node script ``tests/e2e/extension/drive.mjs`` signs in through the popup
(which also pulls the block list from a stand-in for the dashboard's settings
endpoint, served only with the dashboard's cookie), browses local pages in two
tabs (switch, navigate, SPA history change, idle, a page on a blocked domain,
media playing through idle), stops the session, and reports when it did each
thing. Midway it stops the extension's service worker (as Chrome does to idle
workers, via chrome://serviceworker-internals) with events still queued, and
this test kills the gateway and starts it again. Then it reads the raw log and
checks: every event arrived exactly once and in order, nothing private leaked,
and the dwell fold (``processors.dwell``) over the logged events gives the
visits the script made, each within 100 ms of the time spent.

Start and stop use ``self.mindhit.command(msg)``, the handler the popup's
messages reach (clicking them in a popup tab would make that tab the active
page of the session).

Going idle uses the worker's test hook ``self.mindhit.idle(state)``, which runs
the very handler registered with ``chrome.idle.onStateChanged``: real idle
detection needs at least 15 s without input, which a headless browser on a CI
machine cannot produce on demand.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.accounts import create_token, create_user
from mindhit.settings import Settings
from processors.dwell import fold
from schema.derived import VisitClosed
from schema.events import (
    ClientEvent,
    IdleState,
    MediaState,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabUpdated,
)
from schema.ids import uuid7
from tests.support.extension import Gateway, build_extension, logged_uploads, run_driver
from tests.support.servers import free_port as _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

DRIVER = Path(__file__).parent / "extension" / "drive.mjs"
TOLERANCE_MS = 100

ARTICLE = " ".join(
    f"Paragraph {i} explains how rivers shape valleys, carry sediment and build deltas."
    for i in range(12)
)

PAGES = {
    "a.html": f"""<!doctype html><html lang="en"><head><title>Page A rivers</title></head><body>
<article><h1>Rivers</h1><p>alpha-marker {ARTICLE}</p><p>{ARTICLE}</p>
<form><input type="password" value="hunter2-secret"><textarea>draft-secret-text</textarea></form>
</article></body></html>""",
    "b.html": f"""<!doctype html><html lang="en"><head><title>Page B</title></head><body>
<article><h1>Mountains</h1><p>bravo-marker {ARTICLE}</p></article></body></html>""",
    "c.html": f"""<!doctype html><html lang="fr"><head><title>Page C app</title></head><body>
<article><h1>Lacs</h1><p>charlie-marker {ARTICLE}</p></article></body></html>""",
    "secret.html": """<!doctype html><html><head><title>Secret bank</title></head><body>
<p>blocked-marker account balance 1,000,000</p></body></html>""",
    "d.html": f"""<!doctype html><html lang="en"><head><title>Page D</title></head><body>
<article><h1>Deltas</h1><p>delta-marker {ARTICLE}</p></article></body></html>""",
}

# The visits the script makes: page, the action that opens it, the action that ends it.
EXPECTED_VISITS = [
    ("/a.html", "start", "switch-b"),
    ("/b.html", "switch-b", "switch-a"),
    ("/a.html", "switch-a", "navigate-c"),
    ("/c.html", "navigate-c", "spa-c2"),
    ("/c2-view", "spa-c2", "idle"),
    ("/c2-view", "active", "navigate-blocked"),
    # the blocked page, the new tab and the extension's own page are no visits
    ("/b.html", "switch-b-again", "new-tab"),
    ("/b.html", "back-to-b", "navigate-d"),
    ("/d.html", "navigate-d", "stop"),
]


DASHBOARD_COOKIE = "mh_session=e2e-signed-in"


class _QuietHandler(SimpleHTTPRequestHandler):
    """The test pages, plus a stand-in for the dashboard's cookie-authenticated settings."""

    def do_GET(self) -> None:
        if self.path != "/v1/settings":
            super().do_GET()
            return
        signed_in = DASHBOARD_COOKIE in (self.headers.get("Cookie") or "")
        body = json.dumps({"blocked_domains": ["localhost"], "idle_threshold_s": 90}).encode()
        self.send_response(200 if signed_in else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body if signed_in else b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def page_server(tmp_path: Path) -> Iterator[int]:
    """A local HTTP server with the test pages; yields its port."""
    root = tmp_path / "pages"
    root.mkdir()
    for name, html in PAGES.items():
        (root / name).write_text(html, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def built_extension() -> Path:
    """The unpacked extension."""
    return build_extension()


async def test_extension_session_through_the_real_gateway(
    settings: Settings,
    apg: psycopg.AsyncConnection[Any],
    aredis: aioredis.Redis,
    page_server: int,
    built_extension: Path,
    tmp_path: Path,
) -> None:
    user = await create_user(apg, f"{uuid7()}@example.com")
    _, token = await create_token(apg, user.user_id, "e2e-chromium")
    gateway = Gateway(settings, _free_port(), tmp_path / "gateway.log")
    gateway.start()
    base = f"http://127.0.0.1:{page_server}"
    config = {
        "extensionDir": str(built_extension),
        "profileDir": str(tmp_path / "profile"),
        "gatewayUrl": gateway.url,
        "token": token,
        "dashboardUrl": f"{base}/",
        "dashboardCookie": {"name": "mh_session", "value": "e2e-signed-in", "url": base},
        "blockedDomain": "example.invalid",
        "pages": {
            "a": f"{base}/a.html",
            "b": f"{base}/b.html",
            "c": f"{base}/c.html",
            "c2Path": "/c2-view",
            "blocked": f"http://localhost:{page_server}/secret.html",
            "d": f"{base}/d.html",
        },
        "out": str(tmp_path / "driver.json"),
    }
    try:
        control = {"kill-gateway": gateway.kill, "start-gateway": gateway.start}
        result = await run_driver(DRIVER, config, control)
    finally:
        gateway.kill()
    actions = {a["name"]: a for a in result["actions"]}
    checks = result["checks"]
    assert checks["signInMessage"] == "signed in"
    assert not checks["tokenShown"], "the popup showed the token back"
    # The block list that keeps localhost out came from the dashboard (the user is signed
    # in there, so the extension's request carries the cookie); the popup's is separate.
    assert checks["settings"]["blockedDomains"] == ["example.invalid"]
    assert checks["settings"]["remoteBlockedDomains"] == ["localhost"]
    assert checks["settings"]["remoteIdleThresholdS"] == 90
    assert "localhost" in checks["settings"]["remoteHint"]
    assert checks["popup"]["queued"] == "0"
    assert checks["popup"]["state"] == "Not recording"
    before_stop = checks["queuedBeforeStop"]
    assert before_stop["count"] + before_stop["inflight"] > 0, (
        "nothing queued when the worker stopped"
    )
    assert checks["workerRestarted"], "the service worker was not restarted"
    down = checks["queuedWhileDown"]
    assert down["count"] + down["inflight"] > 0, "nothing was queued while the gateway was down"

    uploads = await logged_uploads(aredis, settings)
    raw_json = msgspec.json.encode(uploads).decode()
    events: list[ClientEvent] = sorted((e for u in uploads for e in u.events), key=lambda e: e.seq)

    # Exactly once, in order: every seq once, no gaps, batches never stored twice.
    assert {u.user_id for u in uploads} == {user.user_id}
    assert {u.client_id for u in uploads} == {checks["clientId"]}
    assert len({u.batch_id for u in uploads}) == len(uploads)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "lost or duplicated events"
    in_log_order = [e.seq for u in uploads for e in u.events]
    assert in_log_order == sorted(in_log_order), "uploads arrived out of order"
    killed_at = actions["active"]["after"]
    restarted_at = actions["stop"]["before"]
    assert any(killed_at < e.ts < restarted_at for e in events), "outage events missing"
    assert isinstance(events[0], SessionStarted) and isinstance(events[-1], SessionStopped)
    assert {e.session_id for e in events} == {events[0].session_id}

    # Privacy: nothing from the blocked domain, no form field values.
    for leaked in (
        "hunter2-secret",
        "draft-secret-text",
        "blocked-marker",
        "localhost",
        "Secret bank",
        "chrome-extension",
    ):
        assert leaked not in raw_json, f"{leaked!r} reached the log"
    # Tabs that show no web page are recorded only as "not a page", without a title.
    non_pages = [
        e for e in events if isinstance(e, TabActivated | TabUpdated) and "://" not in e.url
    ]
    assert {(e.url, e.title) for e in non_pages} == {("about:blank", ""), ("about:blocked", "")}

    # Page text: extracted, hashed (lower-case hex SHA-256), language kept.
    contents = {e.url.rsplit("/", 1)[-1]: e for e in events if isinstance(e, PageContent)}
    # The SPA's new route is filed under its own URL; the old URL keeps one version.
    assert "charlie2-marker" in contents["c2-view"].text
    c_texts = {e.content_hash for e in events if isinstance(e, PageContent) and "c.html" in e.url}
    assert len(c_texts) == 1
    for page, marker in (
        ("a.html", "alpha-marker"),
        ("b.html", "bravo-marker"),
        ("c.html", "charlie-marker"),
        ("d.html", "delta-marker"),
    ):
        assert page in contents, f"no page.content for {page}: {sorted(contents)}"
        content = contents[page]
        assert marker in content.text
        assert content.content_hash == hashlib.sha256(content.text.encode()).hexdigest()
    assert contents["c.html"].lang == "fr"
    # Media: playing in D was recorded, then idle; the fold keeps D open (checked below).
    media = [e for e in events if isinstance(e, MediaState) and e.playing]
    assert media, "no media.state with playing=true"
    assert media[0].tab_id == contents["d.html"].tab_id
    idle_after = [e for e in events if isinstance(e, IdleState) and e.seq > media[0].seq]
    assert [e.state for e in idle_after] == ["idle"]
    # chrome.idle's detection interval is the account's idle threshold (90 s, above):
    # an idle report says the user had been inactive that long; going active says 0.
    reports = [(e.state, e.idle_for_s) for e in events if isinstance(e, IdleState)]
    assert reports == [("idle", 90), ("active", 0), ("idle", 90)], reports
    history = [e for e in events if isinstance(e, TabUpdated) and e.change == "history"]
    assert [e.url.rsplit("/", 1)[-1] for e in history] == ["c2-view"]

    # Dwell: the fold over the logged events gives the visits the script made.
    _, folded = fold(None, user.user_id, events)
    assert not folded.gaps and not folded.duplicates
    visits = [d for d in folded.derived if isinstance(d, VisitClosed)]
    got = [(v.url, v.dwell_ms) for v in visits]
    route = [v.content_hash for v in visits if v.url.endswith("/c2-view")]
    assert route and set(route) == {contents["c2-view"].content_hash}, got
    assert len(visits) == len(EXPECTED_VISITS), got
    for visit, (suffix, opened_by, closed_by) in zip(visits, EXPECTED_VISITS, strict=True):
        # The script knows each transition happened between the start and the end of
        # its action (a navigation commits somewhere inside `goto`); the dwell must lie
        # within 100 ms of that window. Actions are short, so the window is tight.
        opened, closed = actions[opened_by], actions[closed_by]
        shortest = closed["before"] - opened["after"]
        longest = closed["after"] - opened["before"]
        assert longest - shortest < 400, (opened, closed)
        assert visit.url.endswith(suffix), got
        assert shortest - TOLERANCE_MS <= visit.dwell_ms <= longest + TOLERANCE_MS, (
            suffix,
            visit.dwell_ms,
            shortest,
            longest,
            got,
        )
