"""Text with a NUL character in the log cannot stop the projector.

PostgreSQL stores no NUL in ``text`` or ``jsonb``. The gateway refuses such events now,
but a log written before, or a model's summary or mind map, may hold one: the batch is
stored with each NUL as U+FFFD, and the rest of the batch beside it is stored as sent.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from mindhit.visit_rows import as_rows
from projector.pg import ensure_temp_tables
from schema.derived import MindmapBuilt, MindmapNode, UrlDiscovered, UrlEnriched
from schema.events import text_hash
from schema.ids import deterministic_id
from schema.log import DerivedEntry
from schema.visits import columns_of

from .conftest import fold_all
from .test_overview_drain import _visit
from .test_user_scoped_rows import T0, _apply, _started
from .test_visit_rows import _entry

pytestmark = pytest.mark.integration

NUL = "a\x00b"
SHOWN = "a\ufffdb"


@pytest.mark.parametrize("shape", ["event", "columns", "rows"])
async def test_a_visit_title_with_a_nul_is_stored_with_a_replacement_character(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], shape: str
) -> None:
    user = deterministic_id("u", 46)
    nul = msgspec.structs.replace(_visit(user, 1, 1000), title=NUL)
    good = _visit(user, 2, 1000, title="Kept as sent")
    sent = {"event": [nul], "columns": [columns_of(user, [nul])], "rows": as_rows([nul])}
    await _entry(settings, aredis, user, sent[shape])
    await _entry(settings, aredis, user, [good])
    await fold_all(settings, aredis, pg)
    titles = dict(pg.execute("SELECT visit_id::text, title FROM page_visits").fetchall())
    pg.commit()
    assert titles == {nul.visit_id: SHOWN, good.visit_id: "Kept as sent"}


def test_a_summary_tag_page_text_and_mind_map_with_a_nul_are_stored(
    pg: psycopg.Connection[Any],
) -> None:
    ensure_temp_tables(pg)
    pg.commit()
    user, session = deterministic_id("u", 47), deterministic_id("s", 47)
    url, text = "https://example.test/nul", f"Page {NUL} text"
    content = text_hash(text)
    _apply(pg, _started(user, session, "mine"), _nul_entry(user, session, url, text, content))
    summary, tags, stored = pg.execute(
        "SELECT summary, tags, title FROM urls WHERE url = %s", (url,)
    ).fetchone() or ("", [], "")
    page_text = pg.execute("SELECT text FROM page_texts").fetchone()
    label = pg.execute(
        "SELECT graph->>'label' FROM mindmap_graphs WHERE session_id = %s", (session,)
    ).fetchone()
    pg.commit()
    assert (summary, tags) == (f"About {SHOWN}", [SHOWN, "plain"])
    assert page_text == (f"Page {SHOWN} text",)
    assert label == (f"Map {SHOWN}",)
    assert stored == ""


def _nul_entry(user: str, session: str, url: str, text: str, content: str) -> DerivedEntry:
    url_hash = deterministic_id("h", 47).replace("-", "")
    return DerivedEntry(
        events=[
            UrlDiscovered(
                user_id=user, url_hash=url_hash, url=url, domain="example.test", title="",
                first_seen_ts=T0, content_hash=content, lang="en", text=text,
            ),
            UrlEnriched(
                user_id=user, url_hash=url_hash, content_hash=content, summary=f"About {NUL}",
                tags=[NUL, "plain"], topic="t", provider="local", enriched_ts=T0 + 10,
            ),
            MindmapBuilt(
                user_id=user, session_id=session, root=MindmapNode(label=f"Map {NUL}"),
                provider="local", built_ts=T0 + 20,
            ),
        ]
    )  # fmt: skip
