"""Issue 16's dashboard features end to end in headless Chromium, on one running pipeline.

One module-scoped pipeline (gateway, processors, projector, dashboard as processes) and
one user with ``mindhit demo`` data serve every test here, so the added wall time stays
small. Each test drives ``features.mjs`` (playwright-core with the system Chromium; WebGL
through SwiftShader: ``--use-angle=swiftshader --enable-unsafe-swiftshader``) and keeps
screenshots under ``test-artifacts/e2e/features``.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.pipeline import Pipeline, run_node, running_pipeline, wait_overview_drained

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e" / "features"
PASSWORD = "a long enough password"


@dataclass
class DemoUser:
    """The signed-up user, their device token and their demo sessions (oldest first)."""

    email: str
    token: str
    sessions: list[str]


@pytest.fixture(scope="module")
def pipeline(redis_url: str, database_url: str, tmp_path_factory: Any) -> Iterator[Pipeline]:
    """The four components against the test database, with a private key prefix; a
    deletion's undo window of 4 s and housekeeping every second, so tests wait little."""
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("e2e-features"),
        logs=ARTIFACTS / "logs",
        extra_env={"MINDHIT_DELETE_UNDO_S": "4", "MINDHIT_HOUSEKEEPING_INTERVAL_S": "1"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def user(pipeline: Pipeline, database_url: str) -> DemoUser:
    """A user signed up in the browser, with three demo sessions made through the gateway
    (and drained into the overview's rollups, which trail the timeline)."""
    email = f"e2e-feat-{uuid.uuid4().hex[:8]}@example.com"
    signup = run_node(
        "dashboard.mjs",
        "signup",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS),
                "email": email,
                "password": PASSWORD,
                "device": "features laptop",
            }
        ),
    )
    assert signup["ok"], signup.get("error")
    demo = json.loads(
        pipeline.mindhit(
            "demo", "--email", email, "--token", signup["token"], "--gateway", pipeline.gateway_url
        )
        .strip()
        .splitlines()[-1]
    )
    assert demo["ready"] == 3
    wait_overview_drained(database_url)
    return DemoUser(email=email, token=signup["token"], sessions=list(demo["sessions"]))


def _run(phase: str, pipeline: Pipeline, user: DemoUser, **extra: Any) -> dict[str, Any]:
    config = {
        "baseUrl": pipeline.web_url,
        "artifacts": str(ARTIFACTS),
        "email": user.email,
        "password": PASSWORD,
        **extra,
    }
    result = run_node("features.mjs", phase, json.dumps(config))
    assert result["ok"], result.get("error")
    assert result["pageErrors"] == [] and result["cspViolations"] == []
    assert result["dialogs"] == []
    return result


def test_3d_mind_map_draws_opens_pages_flies_and_is_remembered(
    pipeline: Pipeline, user: DemoUser
) -> None:
    seen = _run("map3d", pipeline, user, sessionId=user.sessions[-1])
    assert seen["initialView"] == "2d" and seen["view"] == "3d"
    # Every node of the map is a sphere, and the canvas really draws them.
    assert seen["nodes3d"] == seen["nodes2d"] >= 5
    assert seen["canvasVisible"] and seen["expandHidden"]
    sample = seen["sample"]
    assert sample["drawn"] > 0.005 * sample["width"] * sample["height"]
    assert sample["colours"] >= 3  # spheres in several branch colours, labels, edges
    # Both views colour every node alike, and each topic (with its pages) in its own colour.
    assert seen["colours2d"] == seen["colours3d"]
    topics = [seen["colours2d"][t] for t in seen["topics"]]
    assert len(topics) >= 2 and len(set(topics)) == len(topics)
    # Clicking the branch sphere lists its pages in the shared panel; the camera flew to it.
    assert seen["selected"] == seen["clicked"]["id"]
    assert seen["panelTitle"] == seen["clicked"]["label"] and seen["panelPages"] >= 1
    assert seen["flewCloser"] and seen["orbitChanged"]
    # Remembered on the server, and reduced motion falls back to 2D with a note.
    assert seen["savedSetting"] == {"map_view": "3d"} and seen["viewAfterReload"] == "3d"
    assert seen["reducedView"] == "2d" and "reduced motion" in seen["reducedNote"]
    assert seen["reducedCanvas"] == 0
    assert seen["finalSetting"] == {"map_view": "2d"}
    for name in ("20-mindmap-3d", "21-mindmap-3d-selected", "22-mindmap-reduced-motion"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def _busiest(conn: psycopg.Connection[Any], email: str, unit: str) -> date:
    """The last day with visits of the ``unit`` (week or month) in which ``email``'s visits
    have the most domains."""
    found = conn.execute(
        f"SELECT max((v.start_at AT TIME ZONE 'UTC')::date) FROM page_visits v"
        " JOIN users u ON u.user_id = v.user_id WHERE u.email = %s"
        f" GROUP BY date_trunc('{unit}', v.start_at AT TIME ZONE 'UTC')"
        " ORDER BY count(DISTINCT v.domain) DESC, 1 DESC LIMIT 1",
        (email,),
    ).fetchone()
    assert found is not None and found[0] is not None
    return found[0]  # type: ignore[no-any-return]


def test_overview_week_and_month_with_links_to_the_sessions_behind(
    pipeline: Pipeline, user: DemoUser, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The demo's sessions span three days before now: a calendar week (from Monday) or
        # month may hold only one of them. Each period shown is the one holding the most
        # domains, opened on its last day with visits.
        week_day, last_day = (_busiest(conn, user.email, unit) for unit in ("week", "month"))
        month_start = last_day.replace(day=1)
        month_end = (month_start + timedelta(days=32)).replace(day=1)
        expected = conn.execute(
            "SELECT coalesce(sum(v.dwell_ms), 0) FROM page_visits v"
            " JOIN users u ON u.user_id = v.user_id WHERE u.email = %s"
            " AND v.start_at >= %s::date::timestamp AT TIME ZONE 'UTC'"
            " AND v.start_at < %s::date::timestamp AT TIME ZONE 'UTC'",
            (user.email, month_start, month_end),
        ).fetchone()
    seen = _run(
        "overview",
        pipeline,
        user,
        date=last_day.isoformat(),
        weekDate=week_day.isoformat(),
        monthStart=month_start.isoformat(),
        monthEnd=month_end.isoformat(),
    )
    week, month = seen["week"], seen["month"]
    assert week["heading"] == "Where did my week go?" and week["dayBars"] == 7
    assert month["dayBars"] == (month_end - month_start).days
    # The month's figure is the attended time of every visit in it (from the rollups).
    assert expected is not None and month["api"]["total_ms"] == expected[0] > 0
    assert sum(d["dwell_ms"] for d in month["api"]["days"]) == expected[0]
    for shown in (week, month):
        assert shown["domains"] >= 2 and shown["pages"] >= 2 and shown["topics"] >= 1
        assert shown["heatActive"] >= 1 and shown["heatCells"] >= 365
    assert month["tags"] >= 1
    # Each figure links to the sessions behind it (the demo's sessions, nobody else's).
    for follow in ("domainSessions", "topicSessions", "pageSessions"):
        assert seen[follow]["ids"] and set(seen[follow]["ids"]) <= set(user.sessions), follow
    assert seen["domainSessions"]["heading"].startswith("Sessions with domain")
    assert set(seen["behindApi"]) <= set(user.sessions) and seen["behindApi"]
    assert seen["badPeriod"] == 400 and seen["badDate"] == 400
    for name in ("50-overview-week", "51-overview-month", "52-overview-sessions-behind"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_rename_delete_undo_and_delete_for_good(
    pipeline: Pipeline, user: DemoUser, database_url: str
) -> None:
    renamed, doomed = user.sessions[0], user.sessions[1]
    name = 'Trip <b>notes</b> "2026"'
    seen = _run("owning", pipeline, user, renameId=renamed, deleteId=doomed, newName=name)
    assert seen["headingAfterRename"] == name and seen["apiLabel"] == name
    assert seen["badRename"] == 400 and seen["otherRename"] == 404
    # Deleting hides the session at once and offers an undo; undoing brings it back.
    assert seen["bannerShown"] and seen["timelineWhileDeleted"] == 404
    assert seen["rowsWhileDeleted"] == seen["rowsBefore"] - 1
    assert seen["rowsAfterUndo"] == seen["rowsBefore"] and seen["bannerAfterUndo"] == 0
    # Deleted again through the API: after the undo window (4 s here) it is erased for
    # good, through the projector's erasure path: read rows and archived events go.
    assert seen["deleteStatus"] == 202 and seen["deleteState"]["state"] == "pending"
    assert seen["pending"] == [doomed]
    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM page_visits WHERE session_id = %(s)s)"
                " + (SELECT count(*) FROM sessions WHERE session_id = %(s)s)"
                " + (SELECT count(*) FROM mindmap_graphs WHERE session_id = %(s)s),"
                " (SELECT state FROM session_deletions WHERE session_id = %(s)s)",
                {"s": doomed},
            ).fetchone()
            if row and row[0] == 0 and row[1] == "done":
                break
            assert time.monotonic() < deadline, f"still there 60 s after the undo window: {row}"
            time.sleep(0.5)
        kept = conn.execute(
            "SELECT count(*) FROM page_visits WHERE session_id = %s", (renamed,)
        ).fetchone()
    assert kept and kept[0] > 0
    late = _run("tooLate", pipeline, user, deleteId=doomed)
    assert late["restoreStatus"] == 409 and late["timelineStatus"] == 404
    assert late["rows"] == seen["rowsBefore"] - 1
    user.sessions.remove(doomed)
    for shot in ("30-renamed", "31-deleted-undo-banner", "32-after-undo"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000


def test_export_downloads_everything_as_json_and_csv(pipeline: Pipeline, user: DemoUser) -> None:
    seen = _run("exporting", pipeline, user)
    assert seen["retention"]["days"] == 3650
    assert seen["zipName"].startswith("mindhit-export-") and seen["zipName"].endswith(".zip")
    assert seen["apiExport"]["status"] == 200 and seen["apiExport"]["type"] == "application/zip"
    with zipfile.ZipFile(seen["zipPath"]) as archive:
        names = set(archive.namelist())
        sessions = json.loads(archive.read("sessions.json"))
        visits = list(csv.DictReader(io.StringIO(archive.read("visits.csv").decode())))
        pages = json.loads(archive.read("pages.json"))
        account = json.loads(archive.read("account.json"))
    assert {"README.txt", "account.json", "sessions.csv", "visits.csv", "pages.json"} <= names
    assert account["email"] == user.email and account["retention_days"] == 3650
    assert sorted(s["session_id"] for s in sessions) == sorted(user.sessions)
    assert {v["session_id"] for v in visits} == set(user.sessions)
    assert all(int(v["dwell_ms"]) >= 0 and v["url"].startswith("http") for v in visits)
    assert any(p["summary"] for p in pages)
    assert {f"mindmaps/{s}.json" for s in user.sessions} <= names
    assert (ARTIFACTS / "40-history-export.png").stat().st_size > 10_000
