"""Erasing one reader of a shared page version leaves the other readers' page intact.

A URL version's ``urls`` row (summary, tags, topic) and its ``page_texts`` row are
shared by everyone who read it; the row names its first discoverer (``user_id``). When
that user is erased, or deletes the session they read it in, the row must not go while
another user still has visits of that version: their timeline would lose its summary
and their search would no longer find the page at all (the search starts from the
``urls`` row of each version the user read). So one account could wipe pages out of
other users' history just by reading them first and erasing itself. What the erased
user alone read still goes, and nothing of theirs (their id) stays on a kept row.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.overview_drainer import drain_all
from projector.pg import apply_batch, ensure_temp_tables, live_tables
from projector.replay import replay
from projector.synthetic import LogItem, write_log
from schema.derived import SessionErased, UrlDiscovered, UrlEnriched, UserErased, VisitClosed
from schema.events import SessionStarted
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC
from tests.unit.projector.test_two_users_fold import fold_entries
from web.store import sql

from .conftest import fold_all
from .test_archive_replay import archive_all

pytestmark = pytest.mark.integration

ERASED = "00000000-0000-7000-8000-0000000000e1"
READER = "00000000-0000-7000-8000-0000000000e2"
T0 = 1_767_000_000_000
SHARED_URL = "https://news.example/wombats"
SHARED_TEXT = "Wombats produce cube-shaped droppings, a marvel of marsupial engineering."
OWN_URL = "https://only.example/mine"
OWN_TEXT = "A page only the erased user ever read: quokkas."


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _apply(pg: psycopg.Connection[Any], *entries: RawEntry | DerivedEntry) -> None:
    apply_batch(pg, fold_entries(list(entries)), tables=live_tables(), expected={}, advance={})
    pg.commit()
    drain_all(pg)  # the overview's rollups (the search's titles), as the drainer keeps them


def _started(user: str, session_id: str, ts: int) -> RawEntry:
    event = SessionStarted(event_id=uuid7(ts), client_id="c1", session_id=session_id, seq=1, ts=ts)
    upload = Upload(
        batch_id=uuid7(ts), user_id=user, client_id="c1", received_at=ts, events=[event]
    )
    return RawEntry(uploads=[upload])


def _read(
    user: str, session_id: str, url: str, text: str, ts: int, *, discover: bool
) -> DerivedEntry:
    url_hash = _h(url)
    events: list[Any] = [
        VisitClosed(
            user_id=user, visit_id=uuid7(ts + 1), client_id="c1", session_id=session_id,
            tab_id=1, url=url, url_hash=url_hash, domain=url.split("/")[2], title="",
            start_ts=ts, end_ts=ts + 60_000, dwell_ms=60_000, opened_seq=2,
            end_reason="switch", content_hash=_h(text),
        )
    ]  # fmt: skip
    if discover:  # once per version across all users: only the first reader's
        events += [
            UrlDiscovered(
                user_id=user, url_hash=url_hash, url=url, domain=url.split("/")[2], title="",
                first_seen_ts=ts, content_hash=_h(text), lang=f"x-{user[-2:]}", text=text,
            ),
            UrlEnriched(
                user_id=user, url_hash=url_hash, content_hash=_h(text),
                summary=f"About {text.split()[0]}", tags=["nature"], topic="animals",
                provider="local", enriched_ts=ts + 10,
            ),
        ]  # fmt: skip
    return DerivedEntry(events=events)


@pytest.fixture
def db(pg: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    ensure_temp_tables(pg)
    pg.commit()
    return pg


def _setup(pg: psycopg.Connection[Any]) -> tuple[str, str]:
    """The erased user reads the shared page first (and owns its row) and a page of
    their own; the reader reads the shared page later, in one session."""
    first, later = uuid7(T0), uuid7(T0 + 3_600_000)
    _apply(
        pg,
        _started(ERASED, first, T0),
        _started(READER, later, T0 + 3_600_000),
        _read(ERASED, first, SHARED_URL, SHARED_TEXT, T0 + 1_000, discover=True),
        _read(ERASED, first, OWN_URL, OWN_TEXT, T0 + 100_000, discover=True),
        _read(READER, later, SHARED_URL, SHARED_TEXT, T0 + 3_601_000, discover=False),
    )
    return first, later


def _search(pg: psycopg.Connection[Any], user: str, q: str) -> list[str]:
    rows = pg.execute(sql("search"), {"user_id": user, "q": q, "limit": 20}).fetchall()
    pg.commit()
    return [r[1] for r in rows]


def _shared_rows(
    pg: psycopg.Connection[Any],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    urls = pg.execute(
        "SELECT url_hash, content_hash, user_id::text, summary, lang FROM urls ORDER BY url"
    ).fetchall()
    texts = pg.execute("SELECT content_hash, lang FROM page_texts ORDER BY 1").fetchall()
    pg.commit()
    return urls, texts


def _check_reader_keeps_the_page(pg: psycopg.Connection[Any]) -> None:
    urls, texts = _shared_rows(pg)
    assert [(u[0], u[1], u[2], u[3]) for u in urls] == [
        (_h(SHARED_URL), _h(SHARED_TEXT), READER, "About Wombats")
    ]
    # The erased user's own page text is gone; the shared one keeps nothing they sent
    # (the language their client claimed, "x-e1", was kept on it).
    assert texts == [(_h(SHARED_TEXT), "")]
    # Found by its summary and by its text, as before the other user's erasure.
    assert _search(pg, READER, "wombats") == [SHARED_URL]
    assert _search(pg, READER, "marsupial engineering") == [SHARED_URL]
    assert _search(pg, ERASED, "quokkas") == []


def test_erasing_the_first_reader_keeps_the_page_of_the_others(
    db: psycopg.Connection[Any],
) -> None:
    pg = db
    _setup(pg)
    assert _search(pg, READER, "wombats") == [SHARED_URL]
    _apply(pg, DerivedEntry(events=[UserErased(user_id=ERASED, ts=T0 + 7_200_000)]))
    _check_reader_keeps_the_page(pg)
    left = pg.execute("SELECT count(*) FROM urls WHERE user_id = %s", (ERASED,)).fetchone()
    pg.commit()
    assert left == (0,)


def test_deleting_the_first_readers_session_keeps_the_page_of_the_others(
    db: psycopg.Connection[Any],
) -> None:
    pg = db
    first, _ = _setup(pg)
    _apply(
        pg,
        DerivedEntry(events=[SessionErased(user_id=ERASED, session_id=first, ts=T0 + 7_200_000)]),
    )
    urls, texts = _shared_rows(pg)
    assert [(u[0], u[1], u[3]) for u in urls] == [
        (_h(SHARED_URL), _h(SHARED_TEXT), "About Wombats")
    ]
    assert texts == [(_h(SHARED_TEXT), "")]
    assert _search(pg, READER, "wombats") == [SHARED_URL]
    assert _search(pg, READER, "marsupial engineering") == [SHARED_URL]


@pytest.mark.cluster
async def test_a_replay_after_the_erasure_keeps_the_handed_over_pages(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """The erased user discovered two versions in one archived entry; each is read by
    another user (two heirs: the entry's row goes to one, a new part to the other)."""
    other = "00000000-0000-7000-8000-0000000000e3"
    second_url, second_text = "https://news.example/quolls", "Quolls are spotted carnivores."
    sessions = {ERASED: uuid7(T0), READER: uuid7(T0 + 1), other: uuid7(T0 + 2)}
    items = []
    for i, (user, session) in enumerate(sessions.items()):
        pg.execute(
            "INSERT INTO users (user_id, email) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (user, f"sp{i}@x.org"),
        )
        raw = encode_raw_entry(_started(user, session, T0 + i))
        items.append(LogItem(RAW_TOPIC, user, raw, T0 + i, 1))
    pg.commit()
    found = [
        _read(ERASED, sessions[ERASED], SHARED_URL, SHARED_TEXT, T0 + 1_000, discover=True),
        _read(ERASED, sessions[ERASED], second_url, second_text, T0 + 2_000, discover=True),
    ]
    discovered = DerivedEntry(events=[e for entry in found for e in entry.events[1:]])
    items.append(LogItem(URLS_TOPIC, ERASED, encode_derived_entry(discovered), T0 + 3, 4))
    for entry in (
        *found,
        _read(READER, sessions[READER], SHARED_URL, SHARED_TEXT, T0 + 5_000, discover=False),
        _read(other, sessions[other], second_url, second_text, T0 + 6_000, discover=False),
    ):
        user = entry.events[0].user_id
        visits = encode_derived_entry(DerivedEntry(events=entry.events[:1]))
        items.append(LogItem(VISITS_TOPIC, user, visits, T0 + 4, 1))
    await write_log(aredis, settings, items)
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    erased = DerivedEntry(events=[UserErased(user_id=ERASED, ts=T0 + 7_200_000)])
    await write_log(
        aredis, settings, [LogItem(SESSIONS_TOPIC, ERASED, encode_derived_entry(erased), T0 + 9, 1)]
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    before = _shared_rows(pg)
    assert sorted((u[2], u[3]) for u in before[0]) == [
        (READER, "About Wombats"),
        (other, "About Quolls"),
    ]
    assert (await replay(settings, aredis, pg)).swapped
    assert _shared_rows(pg) == before
    assert _search(pg, READER, "marsupial engineering") == [SHARED_URL]
    assert _search(pg, other, "spotted carnivores") == [second_url]
    left = pg.execute(
        "SELECT (SELECT count(*) FROM event_log WHERE user_id = %(u)s)"
        " + (SELECT count(*) FROM urls WHERE user_id = %(u)s)",
        {"u": ERASED},
    ).fetchone()
    pg.commit()
    assert left == (0,)
