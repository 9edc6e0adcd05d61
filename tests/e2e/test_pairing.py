"""Pairing the real extension through the dashboard ("Connect to MindHit"), then recording.

pytest runs the whole pipeline (gateway, processors, projector, dashboard) as processes;
``extension/pair.mjs`` drives Chromium with the built extension: a new user signs up,
types the dashboard URL into the popup (which refreshes every 2 s meanwhile), clicks
Connect, confirms the device name on the dashboard's pairing page, and the extension takes
its new token and closes the tab. A session recorded from the popup over two pages then
reaches the user's timeline. A session the server then stops (through the API, as the
dashboard's Stop does) ends in the extension at its next upload, and the popup says why.
Last, a session the housekeeping closes for lack of events (``MINDHIT_SESSION_IDLE_CLOSE_S``,
short here) goes on in a new session with what the extension recorded after the close.
Screenshots: ``test-artifacts/e2e/pairing-*.png``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mindhit.accounts import create_token
from tests.e2e.pipeline import Pipeline, running_pipeline, serve_pages
from tests.support.extension import build_extension, run_driver

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
DRIVER = Path(__file__).parent / "extension" / "pair.mjs"
PASSWORD = "a long enough password"
DEVICE = "e2e laptop"
TEXT = " ".join(f"Line {i} on how tides follow the moon." for i in range(20))
PAGES = {
    "tides.html": f"<!doctype html><title>Tides explained</title><article><p>{TEXT}</p>",
    "moon.html": f"<!doctype html><title>The moon and the sea</title><article><p>{TEXT}</p>",
}


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server with two pages; yields its base URL."""
    with serve_pages(tmp_path / "pages", PAGES) as base_url:
        yield base_url


@pytest.fixture
def pipeline(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    """The four components on free ports, with a key prefix of their own."""
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path / "data",
        logs=ARTIFACTS / "logs-pairing",
        extra_env={
            "MINDHIT_SESSION_IDLE_CLOSE_S": str(IDLE_CLOSE_S),
            "MINDHIT_HOUSEKEEPING_INTERVAL_S": "1",
        },
    ) as running:
        yield running


VISITS = (
    "SELECT v.url, v.title FROM page_visits v JOIN users u USING (user_id)"
    " WHERE u.email = %s ORDER BY v.start_at"
)
RECORDING = (
    "SELECT s.session_id, s.user_id FROM sessions s JOIN users u USING (user_id)"
    " WHERE u.email = %s AND s.status = 'recording'"
)
IDLE_CLOSE_S = 12
"""The idle close of this test's pipeline: long enough for every step before the last
(no session waits this long between two events), short for the last."""
LABELLED = (
    "SELECT s.session_id::text, s.status, coalesce(array_agg(v.url ORDER BY v.start_at)"
    " FILTER (WHERE v.url IS NOT NULL), '{}') FROM sessions s JOIN users u USING (user_id)"
    " LEFT JOIN page_visits v USING (session_id)"
    " WHERE u.email = %s AND s.label LIKE 'back online%%'"
    " GROUP BY s.session_id, s.status, s.started_at ORDER BY s.started_at"
)
DEVICES = (
    "SELECT t.device FROM device_tokens t JOIN users u USING (user_id)"
    " WHERE u.email = %s AND t.revoked_at IS NULL ORDER BY t.device"
)


def _rows(database_url: str, query: str, email: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return [tuple(row) for row in conn.execute(query, (email,)).fetchall()]


async def test_connect_to_mindhit_pairs_the_extension_and_its_session_reaches_the_user(
    pipeline: Pipeline, pages: str, database_url: str, tmp_path: Path
) -> None:
    email = f"pair-{uuid.uuid4().hex[:8]}@example.com"
    expected = [
        (f"{pages}/tides.html", "Tides explained"),
        (f"{pages}/moon.html", "The moon and the sea"),
    ]

    def wait_for_visits() -> None:
        deadline = time.monotonic() + 90
        while _rows(database_url, VISITS, email) != expected:
            assert time.monotonic() < deadline, _rows(database_url, VISITS, email)
            time.sleep(0.5)

    config = {
        "extensionDir": str(build_extension()),
        "profileDir": str(tmp_path / "profile"),
        "webUrl": pipeline.web_url,
        "email": email,
        "password": PASSWORD,
        "device": DEVICE,
        "pages": {"a": f"{pages}/tides.html", "b": f"{pages}/moon.html"},
        "artifacts": str(ARTIFACTS),
        "out": str(tmp_path / "pair.json"),
    }

    async def stop_from_server() -> None:
        """Stop the extension's running session through the gateway's API."""
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while not (found := await (await conn.execute(RECORDING, (email,))).fetchone()):
                assert time.monotonic() < deadline, "the extension's session never showed"
                await asyncio.sleep(0.3)
            session_id, user_id = found
            _, secret = await create_token(conn, str(user_id), "e2e stopper")
        async with httpx.AsyncClient(base_url=pipeline.gateway_url) as http:
            stop = await http.post(
                f"/v1/sessions/{session_id}/stop", headers={"authorization": f"Bearer {secret}"}
            )
        assert stop.status_code == 202, stop.text

    def wait_for_idle_close() -> None:
        """Until the housekeeping closed the session, and the gateway's cache forgot it."""
        deadline = time.monotonic() + 60
        while [row[1] for row in _rows(database_url, LABELLED, email)] in ([], ["recording"]):
            assert time.monotonic() < deadline, _rows(database_url, LABELLED, email)
            time.sleep(0.3)
        # The gateway trusts its cache of the uploader's sessions for the idle close here,
        # from the last upload (at most 5 s after the last event the close is dated at).
        time.sleep(6)

    def wait_for_the_new_session() -> None:
        deadline = time.monotonic() + 90
        while len(rows := _rows(database_url, LABELLED, email)) < 2 or not rows[1][2]:
            assert time.monotonic() < deadline, rows
            time.sleep(0.5)

    control = {
        "visits": wait_for_visits,
        "stop": stop_from_server,
        "idle": wait_for_idle_close,
        "continued": wait_for_the_new_session,
    }
    checks = (await run_driver(DRIVER, config, control))["checks"]

    # The popup kept what the user typed through its refreshes.
    assert checks["halfTyped"] == pipeline.web_url[:12]
    assert checks["typed"] == pipeline.web_url
    # The extension opened the dashboard's pairing page and got a token of its own.
    assert checks["pairUrl"].startswith(f"{pipeline.web_url}/pair?challenge=")
    status = checks["status"]
    assert status["signedIn"] and not status["authError"], status
    assert status["pairing"].startswith(f'connected as "{DEVICE}"'), status
    assert status["gatewayUrl"] == pipeline.gateway_url
    assert "Recording" in checks["popupText"] or "Not recording" in checks["popupText"]
    assert not re.search(r"mh_[A-Za-z0-9_-]{20,}", checks["popupHtml"]), "token shown"
    assert _rows(database_url, DEVICES, email) == [(DEVICE,), ("e2e stopper",)]
    # The session went through the pipeline to this user's timeline (no popup tab in it).
    assert _rows(database_url, VISITS, email)[:2] == expected
    assert "Tides explained" in checks["timelineText"]
    assert "The moon and the sea" in checks["timelineText"]
    assert (ARTIFACTS / "pairing-2-confirm.png").stat().st_size > 0
    # Stopped by the server, the session ended in the extension too, and the popup says so.
    after = checks["afterServerStop"]
    assert not after["recording"] and after["sessionStartedAt"] is None, after
    assert after["sessionEnded"].startswith('"left running" was stopped'), after
    assert checks["stateAfterServerStop"].startswith('Not recording: "left running" was stopped')
    # Closed by the server for lack of events, the session went on in a new one holding
    # what was recorded after the close, and the popup says why.
    again = checks["afterIdleClose"]
    assert again["recording"] and again["sessionLabel"] == "back online (continued)", again
    assert again["startedAfter"] > again["startedBefore"], again
    assert again["sessionContinued"].startswith("in a new session"), again
    assert "(in a new session: nothing reached the server" in checks["stateAfterIdleClose"]
    closed, continued = _rows(database_url, LABELLED, email)
    assert f"{pages}/moon.html" not in closed[2], closed  # nothing after the close in it
    assert f"{pages}/moon.html" in continued[2], continued
