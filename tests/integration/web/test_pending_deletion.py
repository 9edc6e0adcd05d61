"""A deleted session is gone from everything its user sees at once, undo window or not.

Deleting a session files a deletion that takes effect after the undo window; until the
projector erases its rows they are still in the read tables and the overview's rollups.
The user must not find it anywhere meanwhile: session list, the session and its map,
search (pages, titles, the sessions a page was read in), the overview (days, domains,
pages, tags, map topics, heatmap) and the export. Undoing brings all of it back.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from projector.overview import rebuild_user
from projector.pg import live_tables

from .conftest import NOW, add_session, sign_up, unique_email, user_id_of

pytestmark = pytest.mark.integration

DAY = NOW.date().isoformat()
KEPT = [
    {
        "url": "https://kept.example/tides",
        "domain": "kept.example",
        "title": "Tides and the moon",
        "text": "Tides follow the moon; a shared word: harbour.",
        "tags": ["tides"],
        "dwell_ms": 60_000,
    }
]
GONE = [
    {
        "url": "https://gone.example/secret",
        "domain": "gone.example",
        "title": "Quokka surprise party",
        "text": "Planning the quokka surprise party at the harbour.",
        "tags": ["quokka"],
        "dwell_ms": 600_000,
    },
    {
        # A page also read in the kept session: found, but only the kept visit counts.
        "url": "https://kept.example/tides",
        "domain": "kept.example",
        "title": "Tides (read again)",
        "tags": ["tides"],
        "dwell_ms": 120_000,
    },
]


def _map(label: str, url: str) -> dict[str, Any]:
    return {
        "label": label,
        "children": [{"label": label, "children": [{"label": url, "url": url}]}],
    }


async def _seen(client: AsyncTestClient[Any], gone: str) -> dict[str, Any]:
    """Everything the user can see that could show the deleted session."""
    listing = (await client.get("/v1/sessions")).json()["sessions"]
    quokka = (await client.get("/v1/search", params={"q": "quokka"})).json()["hits"]
    harbour = (await client.get("/v1/search", params={"q": "harbour"})).json()["hits"]
    tides = (await client.get("/v1/search", params={"q": "tides"})).json()["hits"]
    overview = (await client.get("/v1/overview", params={"period": "week", "date": DAY})).json()
    export = zipfile.ZipFile(io.BytesIO((await client.get("/v1/export")).content))
    names = export.namelist()
    visits_csv = next(n for n in names if n.endswith("visits.csv"))
    pages_json = next(n for n in names if n.endswith("pages.json"))
    sessions_json = next(n for n in names if n.endswith("sessions.json"))
    return {
        "listed": {s["session_id"] for s in listing},
        "timeline": (await client.get(f"/v1/sessions/{gone}")).status_code,
        "map": (await client.get(f"/v1/sessions/{gone}/mindmap")).status_code,
        "map_md": (await client.get(f"/sessions/{gone}/map.md")).status_code,
        "search_quokka": [h["url"] for h in quokka],
        "search_harbour": sorted(h["url"] for h in harbour),
        "tides_title": [h["title"] for h in tides],
        "tides_sessions": [len(h.get("sessions", [])) for h in tides],
        "total_ms": overview["total_ms"],
        "visits": overview["visits"],
        "domains": {d["key"]: d["dwell_ms"] for d in overview["domains"]},
        "pages": {p["url"]: p["dwell_ms"] for p in overview["pages"]},
        "tags": {t["key"]: t["dwell_ms"] for t in overview["tags"]},
        "topics": sorted(t["key"] for t in overview["topics"]),
        "heat": sum(h["dwell_ms"] for h in overview["heatmap"]),
        "export_sessions": {s["session_id"] for s in json.loads(export.read(sessions_json))},
        "export_visits": sorted(
            r["url"] for r in csv.DictReader(io.StringIO(export.read(visits_csv).decode()))
        ),
        "export_pages": sorted(p["url"] for p in json.loads(export.read(pages_json))),
        "export_maps": sorted(n.rsplit("/", 1)[-1] for n in names if "mindmaps/" in n),
    }


async def test_a_deleted_session_is_hidden_everywhere_until_undone(
    client: AsyncTestClient[Any], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    email = unique_email("deleter")
    token = await sign_up(client, email)
    uid = await user_id_of(apg, email)
    kept = await add_session(apg, uid, visits=KEPT, mindmap=_map("Oceans", KEPT[0]["url"]))
    gone = await add_session(apg, uid, visits=GONE, mindmap=_map("Parties", GONE[0]["url"]))
    with psycopg.connect(database_url) as conn, conn.transaction():
        rebuild_user(conn, live_tables(), uid)  # the rollups, as the projector keeps them
    before = await _seen(client, gone)
    assert before["listed"] == {kept, gone} and before["total_ms"] == 780_000  # it can fail

    headers = {"x-csrftoken": token}
    deleted = await client.post(f"/v1/sessions/{gone}/deletion", headers=headers)
    assert deleted.status_code == 202, deleted.text
    hidden = await _seen(client, gone)
    assert hidden["listed"] == {kept}
    assert (hidden["timeline"], hidden["map"], hidden["map_md"]) == (404, 404, 404)
    assert hidden["search_quokka"] == []
    assert hidden["search_harbour"] == ["https://kept.example/tides"]
    assert hidden["tides_title"] == ["Tides and the moon"]
    assert hidden["tides_sessions"] == [1]  # read in the kept session only
    assert (hidden["total_ms"], hidden["visits"], hidden["heat"]) == (60_000, 1, 60_000)
    assert hidden["domains"] == {"kept.example": 60_000}
    assert hidden["pages"] == {"https://kept.example/tides": 60_000}
    assert hidden["tags"] == {"tides": 60_000}
    assert hidden["topics"] == ["Oceans"]
    assert hidden["export_sessions"] == {kept}
    assert hidden["export_visits"] == ["https://kept.example/tides"]
    assert hidden["export_pages"] == ["https://kept.example/tides"]
    assert hidden["export_maps"] == [f"{kept}.json"]

    undone = await client.delete(f"/v1/sessions/{gone}/deletion", headers=headers)
    assert undone.status_code == 200, undone.text
    assert await _seen(client, gone) == before
