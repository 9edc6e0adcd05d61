"""The dashboard end to end in headless Chromium, on the real pipeline.

pytest starts the gateway, processors, projector and dashboard as processes; a new user
signs up and creates a device token in the browser; ``mindhit demo`` uploads demo
sessions through the gateway with that token; a session with script and markup planted
in its titles and text (and so in the summaries and map built from them) is uploaded the
same way; then the browser tours the session list, timeline, mind map (with exports) and
search, checks that nothing planted executes, and a second user is refused the first
user's session. Screenshots of every page are kept under ``test-artifacts/e2e``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from schema.api import EventBatch
from schema.events import (
    ClientEvent,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
)
from schema.ids import uuid7
from tests.e2e.pipeline import Pipeline, run_node, running_pipeline, wait_overview_drained

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "a long enough password"
EMAIL = f"e2e-{uuid.uuid4().hex[:8]}@example.com"  # the first user, made an admin
PLANTED_TITLE = '<img src=x onerror="window.__xss=\'title\'">Quokka <b class="planted">facts</b>'
PLANTED_TITLE_2 = "\"><svg onload=\"window.__xss='svg'\"></svg><script>window.__xss='t2'</script>"
PLANTED_TEXT = (
    "The quokka is a small marsupial. <script>window.__xss='text'</script> "
    "Quokkas live on Rottnest Island. <img src=x onerror=\"window.__xss='text-img'\"> "
    'A quokka <b class="planted">smiles</b> in photos and eats leaves. '
) * 4
SECOND_TEXT = "Second page about a quokka. " + PLANTED_TEXT


@pytest.fixture(scope="module")
def pipeline(redis_url: str, database_url: str, tmp_path_factory: Any) -> Iterator[Pipeline]:
    """The four components, running against the test database with a private key prefix."""
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("e2e-data"),
        logs=ARTIFACTS / "logs",
        admin_emails=EMAIL,
    ) as running:
        yield running


def _planted_session(client_id: str, now_ms: int) -> tuple[str, list[ClientEvent]]:
    session_id = uuid7(now_ms)
    seq = iter(range(1, 100))

    def env(ts: int) -> dict[str, Any]:
        return {
            "event_id": uuid7(ts),
            "client_id": client_id,
            "session_id": session_id,
            "seq": next(seq),
            "ts": ts,
        }

    url1 = "https://evil.example/quokka?<script>x</script>"
    url2 = "https://evil.example/second"
    t = now_ms - 600_000
    return session_id, [
        SessionStarted(**env(t), label='<script>window.__xss="label"</script>'),
        WindowFocus(**env(t + 100), focused=True, window_id=1),
        TabActivated(**env(t + 1_000), tab_id=7, window_id=1, url=url1, title=PLANTED_TITLE),
        PageContent(
            **env(t + 2_000),
            tab_id=7,
            url=url1,
            title=PLANTED_TITLE,
            lang="en",
            text=PLANTED_TEXT,
            content_hash=hashlib.sha256(PLANTED_TEXT.encode()).hexdigest(),
        ),
        TabUpdated(**env(t + 200_000), tab_id=7, window_id=1, url=url2, change="url"),
        TabUpdated(
            **env(t + 200_500),
            tab_id=7,
            window_id=1,
            url=url2,
            title=PLANTED_TITLE_2,
            change="title",
        ),
        PageContent(
            **env(t + 201_000),
            tab_id=7,
            url=url2,
            title=PLANTED_TITLE_2,
            lang="en",
            text=SECOND_TEXT,
            content_hash=hashlib.sha256(SECOND_TEXT.encode()).hexdigest(),
        ),
        TabRemoved(**env(t + 400_000), tab_id=7, window_id=1),
        SessionStopped(**env(t + 400_500)),
    ]


def _wait_ready(database_url: str, session_ids: list[str], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM sessions WHERE session_id = ANY(%s::uuid[])"
                " AND status = 'completed'",
                (session_ids,),
            ).fetchone()
            if row and row[0] == len(session_ids):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"sessions not ready after {timeout_s}s: {session_ids}")
            time.sleep(0.3)
    wait_overview_drained(database_url)  # the search starts from the titles' rollup


def test_sign_up_demo_data_session_list_timeline_map_search_and_isolation(
    pipeline: Pipeline, database_url: str
) -> None:
    email = EMAIL
    other = f"e2e-other-{uuid.uuid4().hex[:8]}@example.com"

    # 1. Sign up and create a device token in the browser.
    signup = run_node(
        "dashboard.mjs",
        "signup",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS),
                "email": email,
                "password": PASSWORD,
                "device": "e2e laptop",
            }
        ),
    )
    assert signup["ok"], signup.get("error")
    token = signup["token"]
    assert token.startswith("mh_") and signup["tokensListed"] == 1
    # The address is listed in MINDHIT_ADMIN_EMAILS but unconfirmed: the operator grants
    # the admin flag instead (signing up with a listed address alone gives nothing).
    pipeline.mindhit("user", "admin", email)

    # 2. Demo data through the real gateway with that token.
    demo = json.loads(
        pipeline.mindhit(
            "demo", "--email", email, "--token", token, "--gateway", pipeline.gateway_url
        )
        .strip()
        .splitlines()[-1]
    )
    assert demo["ready"] == 3 and len(demo["sessions"]) == 3 and not demo["token_created"]

    # 3. A session with script and markup planted in titles and page text.
    client_id = f"e2e-{uuid.uuid4().hex[:8]}"
    planted_id, events = _planted_session(client_id, int(time.time() * 1000))
    answer = httpx.post(
        f"{pipeline.gateway_url}/v1/events",
        content=msgspec.json.encode(
            EventBatch(batch_id=uuid7(), client_id=client_id, events=events)
        ),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == len(events)
    _wait_ready(database_url, [planted_id])
    with psycopg.connect(database_url, autocommit=True) as conn:
        summaries = [
            r[0]
            for r in conn.execute(
                "SELECT u.summary FROM urls u JOIN page_visits v USING (url_hash)"
                " WHERE v.session_id = %s",
                (planted_id,),
            ).fetchall()
        ]
    assert any("<" in s for s in summaries), f"no markup reached the summaries: {summaries}"

    # 4. The tour: list, timeline, mind map, search, planted markup, second user.
    newest_demo = demo["sessions"][-1]
    tour = run_node(
        "dashboard.mjs",
        "tour",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS),
                "email": email,
                "otherEmail": other,
                "password": PASSWORD,
                "sessionId": newest_demo,
                "searchWord": "compass",
                "xssSessionId": planted_id,
                "xssSearchWord": "quokka",
            }
        ),
    )
    assert tour["ok"], tour.get("error")
    assert tour["sessionRows"] == 4 and tour["statuses"] == ["ready"] * 4
    assert tour["timelineVisits"] >= 5 and tour["domainTotals"] >= 2
    assert tour["mapNodes"] >= 5 and tour["mapPanelPages"] >= 1
    # selecting a branch shows its one-sentence summary; the timeline shows page gists
    assert len(tour["mapPanelSummary"]) == 1 and tour["mapPanelSummary"][0].strip()
    assert tour["mapBuiltBy"].startswith("Built by local")
    assert tour["timelineGists"] >= 1 and tour["timelineChips"] >= 3
    assert tour["visibleAfterCollapse"] < tour["mapNodes"] == tour["visibleAfterExpand"]
    assert tour["zoomedIn"] and tour["pngBytes"] > 5_000
    assert tour["svgHead"].startswith("<svg")
    assert tour["markdownHead"].startswith("# ")
    assert tour["searchHits"] >= 1 and "compass" in [m.lower() for m in tour["searchMarks"]]
    assert tour["searchLinkedSession"] in demo["sessions"]
    # Nothing planted ran, and it was shown as text.
    assert tour["xss"] is None and tour["dialogs"] == [] and tour["pageErrors"] == []
    assert tour["cspViolations"] == []
    assert tour["xssInjectedElements"] == 0 and tour["xssSearchInjected"] == 0
    assert any("<img src=x onerror=" in t for t in tour["xssTitlesShown"])
    assert "<script>" in tour["xssDetailText"] or "<b class" in tour["xssDetailText"]
    assert tour["xssSearchHits"] >= 1
    # The second user gets 404 for the first user's session, in pages and API.
    assert tour["otherUserStatus"] == 404
    assert tour["otherUserApiStatus"] == 404 and tour["otherUserMapApiStatus"] == 404
    assert tour["otherUserSessionRows"] == 0
    # Pipeline health for the user, and the admin's ops page with lag per partition.
    assert tour["healthText"].count("Up to date") == 1
    assert tour["opsLagRows"] >= 2 and "Dead letters" in tour["opsText"]
    for name in (
        "02-sessions",
        "03-timeline",
        "04-mindmap",
        "05-search",
        "08-second-user",
        "09-health",
        "10-ops",
    ):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_erase_all_my_data_from_settings_empties_the_read_tables(
    pipeline: Pipeline, database_url: str
) -> None:
    email = f"e2e-erase-{uuid.uuid4().hex[:8]}@example.com"
    signup = run_node(
        "dashboard.mjs",
        "signup",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS / "erase"),
                "email": email,
                "password": PASSWORD,
                "device": "phone",
            }
        ),
    )
    assert signup["ok"], signup.get("error")
    demo = json.loads(
        pipeline.mindhit(
            "demo",
            "--email",
            email,
            "--token",
            signup["token"],
            "--gateway",
            pipeline.gateway_url,
            "--sessions",
            "1",
        )
        .strip()
        .splitlines()[-1]
    )
    assert demo["ready"] == 1
    erase = run_node(
        "dashboard.mjs",
        "erase",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS / "erase"),
                "email": email,
                "password": PASSWORD,
            }
        ),
    )
    assert erase["ok"], erase.get("error")
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        user_id = conn.execute("SELECT user_id FROM users WHERE email = %s", (email,)).fetchone()
        assert user_id is not None
        while True:
            left = conn.execute(
                "SELECT (SELECT count(*) FROM sessions WHERE user_id = %(u)s)"
                " + (SELECT count(*) FROM page_visits WHERE user_id = %(u)s)"
                " + (SELECT count(*) FROM mindmap_graphs WHERE user_id = %(u)s)",
                {"u": user_id[0]},
            ).fetchone()
            if left and left[0] == 0:
                break
            assert time.monotonic() < deadline, f"{left} read rows left 30 s after erasure"
            time.sleep(0.3)
        active = conn.execute(
            "SELECT count(*) FROM device_tokens WHERE user_id = %s AND revoked_at IS NULL",
            (user_id[0],),
        ).fetchone()
        assert active == (0,)
