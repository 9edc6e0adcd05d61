"""Visits sent as COPY rows (``VisitRows``) reach the tables exactly as the same visits one
per event do: a log mixing the three shapes folds, archives and replays to the same
tables; a redelivered log, a visit sent twice in a batch, an entry PostgreSQL refuses
and an entry carrying another user's rows take the slow paths and still leave the
right rows, and nothing of the good entries beside them is lost."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.copy_binary import EPOCH_2000_MS
from mindhit.settings import Settings
from mindhit.visit_rows import encode_rows
from projector.replay import replay
from projector.retention import trim_streams
from projector.synthetic import LogItem, synth_log, write_log
from schema.derived import VisitRows
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import VISITS_TOPIC, partition_for, stream_key
from schema.visits import columns_of

from .conftest import clear_read_tables, fold_all, snapshot
from .test_archive_replay import archive_all
from .test_overview_drain import _visit
from .test_overview_rollups import _check
from .test_visit_columns import _as_events, _forget_redis

pytestmark = pytest.mark.integration


def _log(shape: str) -> Iterator[LogItem]:
    return synth_log(23, users=4, sessions_per_user=3, visits_per_session=7, visit_shape=shape)


def _rotating() -> Iterator[LogItem]:
    """The rows log with its visits entries in turn as rows, columns and events."""
    rows, columns = _log("rows"), list(_as_events(_log("columns"), every=10**9))
    events = {i: item for i, item in enumerate(_as_events(_log("columns"), every=1))}
    n = 0
    for i, (item, column) in enumerate(zip(rows, columns, strict=True)):
        if item.topic == VISITS_TOPIC:
            n += 1
            item = (item, column, events[i])[n % 3]
        yield item


async def test_mixed_shapes_fold_archive_and_replay_to_the_tables_of_events(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(aredis, settings, _as_events(_log("columns"), every=1))
    await fold_all(settings, aredis, pg)
    expected = snapshot(pg)
    assert expected["page_visits"]
    await _forget_redis(settings, aredis)
    clear_read_tables(pg)
    await write_log(aredis, settings, _rotating())
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == expected
    # Redelivered whole: every visit is stored already (the slow path), nothing changes.
    await write_log(aredis, settings, _log("rows"))
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == expected
    # Archived and trimmed, then rebuilt from the archive alone: the same tables again.
    settings = msgspec.structs.replace(settings, stream_retention_s=0.0)
    await archive_all(settings, aredis, pg)
    assert await trim_streams(settings, aredis, pg) > 0
    assert (await replay(settings, aredis, pg)).swapped
    assert snapshot(pg) == expected


async def _entry(
    settings: Settings, aredis: aioredis.Redis, who: str, events: list[Any], at: int = 5
) -> None:
    part = partition_for(who, settings.partitions)
    await streams.append(
        aredis, stream_key(settings.key_prefix, VISITS_TOPIC, part),
        encode_derived_entry(DerivedEntry(events=events, received_at=at)), key=who.encode(),
        timestamp_ms=at,
    )  # fmt: skip


def _stored(pg: psycopg.Connection[Any]) -> dict[str, tuple[str, str, int]]:
    rows = pg.execute("SELECT visit_id::text, user_id::text, title, dwell_ms FROM page_visits")
    out = {v: (u, t, d) for v, u, t, d in rows.fetchall()}
    pg.commit()
    return out


async def test_a_visit_sent_twice_in_one_batch_keeps_its_last_version(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    user = deterministic_id("u", 41)
    first = [_visit(user, n, 1000) for n in range(1, 4)]
    again = [_visit(user, 2, 5000, title="Retitled")]
    await _entry(settings, aredis, user, [encode_rows(user, first)])
    await _entry(settings, aredis, user, [encode_rows(user, again)])
    await fold_all(settings, aredis, pg)  # one batch: the plain insert meets the repeat
    stored = _stored(pg)
    assert len(stored) == 3 and stored[again[0].visit_id] == (user, "Retitled", 5000)
    _check(pg)


async def test_entries_postgresql_refuses_or_of_another_users_rows_are_rejected_alone(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    user, victim = deterministic_id("u", 42), deterministic_id("u", 43)
    good = [_visit(user, n, 1000) for n in range(1, 3)]
    broken = encode_rows(user, [_visit(user, 3, 1000, title="\u00e9t\u00e9")])
    bad_utf8 = broken.rows.replace("\u00e9".encode(), b"\xff\xfe", 1)
    refused = VisitRows(user_id=user, layout=1, count=1, rows=bad_utf8)
    theirs = encode_rows(victim, [_visit(victim, 4, 1000)])
    smuggled = VisitRows(user_id=user, layout=1, count=1, rows=theirs.rows)
    later = [_visit(user, 5, 1000)]
    await _entry(settings, aredis, user, [encode_rows(user, good), smuggled])
    await fold_all(settings, aredis, pg)  # the check of each user's rows fails
    assert sorted(_stored(pg)) == sorted(v.visit_id for v in good)
    await _entry(settings, aredis, user, [refused, encode_rows(user, later)])
    await fold_all(settings, aredis, pg)  # PostgreSQL refuses the text
    assert sorted(_stored(pg)) == sorted(v.visit_id for v in [*good, *later])
    short = encode_rows(user, [_visit(user, 6, 1000)]).rows  # its visit id: 8 bytes, not 16
    short = short[:2] + struct.pack(">i", 8) + short[6:14] + short[22:]
    last = [_visit(user, 7, 1000)]
    cut = VisitRows(user_id=user, layout=1, count=1, rows=short)
    await _entry(settings, aredis, user, [cut, encode_rows(user, last)])
    await fold_all(settings, aredis, pg)  # refused as a protocol violation (08P01)
    stored = _stored(pg)
    assert sorted(stored) == sorted(v.visit_id for v in [*good, *later, *last])
    ending = _visit(user, 8, 1000)  # its end made a time beyond timestamptz's range
    end = struct.pack(">iq", 8, (ending.end_ts - EPOCH_2000_MS) * 1000)
    far = encode_rows(user, [ending]).rows.replace(end, struct.pack(">iq", 8, 2**63 - 2))
    final = [_visit(user, 9, 1000)]
    beyond = VisitRows(user_id=user, layout=1, count=1, rows=far)
    await _entry(settings, aredis, user, [beyond, encode_rows(user, final)])
    await fold_all(settings, aredis, pg)  # refused (a DataError), then rejected once decoded
    stored = _stored(pg)
    assert sorted(stored) == sorted(v.visit_id for v in [*good, *later, *last, *final])
    assert all(owner == user for owner, _, _ in stored.values())
    _check(pg)


LONG_TITLE = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(2048))  # 6 KB of UTF-8
LONG_HOST = "a" * 5000 + ".example"


async def test_values_the_tables_cannot_take_are_stored_cut_in_every_shape(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A client's tab id beyond int4 (``page_visits.tab_id`` is an ``integer``: psycopg
    would wrap it into another number), a title or a domain beyond a btree entry (keys of
    ``page_titles`` and of the overview: PostgreSQL refused the whole batch, at every
    restart) are stored as :mod:`mindhit.storable_visit` says, in every shape, also when
    the rows are decoded (sent again: the merge's slow path)."""
    user = deterministic_id("u", 44)
    big = [
        msgspec.structs.replace(
            _visit(user, n, 1000), tab_id=2**32 + 7, title=LONG_TITLE, domain=LONG_HOST
        )
        for n in (1, 2, 3)
    ]
    await _entry(settings, aredis, user, [big[0]])  # one per event
    await _entry(settings, aredis, user, [columns_of(user, [big[1]])])
    rows = msgspec.structs.replace(big[2], tab_id=-1)  # rows hold an int4 (as_rows: -1)
    await _entry(settings, aredis, user, [encode_rows(user, [rows])])
    await fold_all(settings, aredis, pg)  # drains into page_titles and the overview too
    expected = {v.visit_id: (-1, LONG_TITLE[:600], LONG_HOST[:253]) for v in big}
    assert _stored_cut(pg) == expected
    again = [encode_rows(user, [msgspec.structs.replace(v, tab_id=-1) for v in big])]
    await _entry(settings, aredis, user, again)  # stored already: decoded, upserted
    await fold_all(settings, aredis, pg)
    assert _stored_cut(pg) == expected
    titles = pg.execute("SELECT DISTINCT title FROM page_titles").fetchall()
    pg.commit()
    assert titles == [(LONG_TITLE[:600],)]
    _check(pg)


def _stored_cut(pg: psycopg.Connection[Any]) -> dict[str, tuple[int, str, str]]:
    rows = pg.execute("SELECT visit_id::text, tab_id, title, domain FROM page_visits").fetchall()
    pg.commit()
    return {v: (t, title, domain) for v, t, title, domain in rows}
