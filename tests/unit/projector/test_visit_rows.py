"""Visits as binary COPY rows (``VisitRows``, mindhit.visit_rows): the rows are exactly what
the staging COPY sends for the visits, they read back as the staging rows and as the columnar
event, and any corruption of another process's bytes is a ``ValueError``, never a wrong row."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindhit.visit_rows import (
    LAYOUT,
    as_columns,
    decode_rows,
    encode_rows,
    encode_staged,
    select_rows,
)
from projector.copy_rows import SIGNATURE, TRAILER, binary_copy_data, staged_rows
from projector.tables import PAGE_VISITS
from schema.derived import VisitClosed, VisitRows
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry
from schema.topics import topic_for
from schema.visits import columnar
from tests.unit.projector.test_copy_rows import _expected, _write_rows

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z

ids = st.integers(0, 2**128 - 1).map(lambda n: str(uuid.UUID(int=n)))
SESSIONS = [str(uuid.UUID(int=n)) for n in (1, 2**127, 2**128 - 1)]
sessions = st.sampled_from(SESSIONS) | ids
times = st.sampled_from([MIN_MS, -1, 0, 946_684_800_000, MAX_MS]) | st.integers(MIN_MS, MAX_MS)
int8 = st.integers(-(2**63), 2**63 - 1)


def visits_of(
    user: str, min_size: int = 0, max_size: int = 6
) -> st.SearchStrategy[list[VisitClosed]]:
    """Realistic visits of ``user``: unicode text, empty optional fields, extreme times."""
    visit = st.builds(
        VisitClosed,
        user_id=st.just(user),
        visit_id=ids,
        client_id=st.text(max_size=8),
        session_id=sessions,
        tab_id=st.integers(-(2**31), 2**31 - 1),
        url=st.sampled_from(["https://example.com/a?b=1", ""]) | st.text(max_size=40),
        url_hash=st.text("0123456789abcdef", max_size=16),
        domain=st.text(max_size=12),
        title=st.sampled_from(["Café ☕ — 東京", "\U0001f600", ""]) | st.text(max_size=30),
        start_ts=times,
        end_ts=times,
        dwell_ms=int8,
        opened_seq=int8,
        end_reason=st.sampled_from(["", "switch", "idle"]),
        content_hash=st.sampled_from(["", "ab12"]) | st.text(max_size=8),
    )
    return st.lists(visit, min_size=min_size, max_size=max_size)


one_user = ids.flatmap(lambda user: st.tuples(st.just(user), visits_of(user)))
two_users = st.tuples(ids, ids).filter(lambda u: u[0] != u[1])


def _staged(visits: list[VisitClosed]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in staged_rows(PAGE_VISITS)(visits)]


@settings(max_examples=200, deadline=None)
@given(case=one_user, upper=st.booleans())
def test_rows_read_back_as_the_staging_rows(
    case: tuple[str, list[VisitClosed]], upper: bool
) -> None:
    user, visits = case
    if upper:  # upper-case hex digits stage as the same UUIDs
        visits = [msgspec.structs.replace(v, visit_id=v.visit_id.upper()) for v in visits]
    event = encode_rows(user, visits)
    assert (event.user_id, event.layout, event.count) == (user, LAYOUT, len(visits))
    decoded = decode_rows(event)
    assert decoded == _staged(visits)
    assert decoded == [_expected(PAGE_VISITS, v) for v in visits]  # converted the slow way
    assert all(type(row) is tuple for row in decoded)
    assert encode_staged(user, decoded) == event


@settings(max_examples=100, deadline=None)
@given(case=one_user)
def test_rows_are_the_staging_copy_without_header_and_trailer(
    case: tuple[str, list[VisitClosed]],
) -> None:
    user, visits = case
    event = encode_rows(user, visits)
    types = PAGE_VISITS.copy_types
    copy = b"".join(binary_copy_data(None, types, staged_rows(PAGE_VISITS), visits))
    assert SIGNATURE + event.rows + TRAILER == copy
    assert SIGNATURE + event.rows + TRAILER == _write_rows(types, _staged(visits))


@settings(max_examples=100, deadline=None)
@given(case=one_user)
def test_rows_read_back_as_the_columnar_event(case: tuple[str, list[VisitClosed]]) -> None:
    user, visits = case
    columns = as_columns(encode_rows(user, visits))
    if visits:
        assert columns == columnar(visits)[0]
    else:
        assert columns.user_id == user and columns.visit_id == columns.title == []


@given(case=one_user)
def test_the_event_goes_through_the_log_to_the_visits_topic(
    case: tuple[str, list[VisitClosed]],
) -> None:
    event = encode_rows(*case)
    entry = decode_derived_entry(encode_derived_entry(DerivedEntry(events=[event])))
    assert entry.events == [event] and type(entry.events[0]) is VisitRows
    assert topic_for(event) == "visits"


def _rejected(event: VisitRows, reason: str = "") -> None:
    """``event`` is malformed: every reader raises ``ValueError`` (naming ``reason``), the
    filter drops it."""
    with pytest.raises(ValueError, match=f"VisitRows.*{reason}"):
        decode_rows(event)
    with pytest.raises(ValueError, match=f"VisitRows.*{reason}"):
        as_columns(event)
    assert select_rows(event, set()) is None


@settings(max_examples=100, deadline=None)
@given(case=ids.flatmap(lambda u: st.tuples(st.just(u), visits_of(u, 1, 3))))
def test_rows_cut_short_anywhere_are_rejected(case: tuple[str, list[VisitClosed]]) -> None:
    event = encode_rows(*case)
    for size in range(len(event.rows)):  # at a row's end too: then the count disagrees
        _rejected(msgspec.structs.replace(event, rows=event.rows[:size]))


@given(case=one_user, delta=st.integers(-3, 3).filter(bool))
def test_a_wrong_count_is_rejected(case: tuple[str, list[VisitClosed]], delta: int) -> None:
    event = encode_rows(*case)
    _rejected(msgspec.structs.replace(event, count=event.count + delta), "count says")


@settings(max_examples=100, deadline=None)
@given(users=two_users, data=st.data())
def test_another_users_row_is_rejected(users: tuple[str, str], data: st.DataObject) -> None:
    ours = data.draw(visits_of(users[0]))
    theirs = data.draw(visits_of(users[1], 1, 1))
    at = data.draw(st.integers(0, len(ours)))
    head, tail = encode_rows(users[0], ours[:at]), encode_rows(users[0], ours[at:])
    spliced = head.rows + encode_rows(users[1], theirs).rows + tail.rows
    n = len(ours) + 1
    _rejected(VisitRows(user_id=users[0], layout=LAYOUT, count=n, rows=spliced), "another user")
    if ours:  # and as the other user's event, ours are the strangers
        _rejected(VisitRows(user_id=users[1], layout=LAYOUT, count=n, rows=spliced), "another")


@given(case=one_user, layout=st.integers(-(2**63), 2**63 - 1).filter(lambda n: n != LAYOUT))
def test_an_unknown_layout_is_rejected(case: tuple[str, list[VisitClosed]], layout: int) -> None:
    _rejected(msgspec.structs.replace(encode_rows(*case), layout=layout), "unknown layout")


@settings(max_examples=100, deadline=None)
@given(
    case=one_user,
    title=st.text(max_size=4),
    bad=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]),
)
def test_text_that_is_not_utf8_is_rejected(
    case: tuple[str, list[VisitClosed]], title: str, bad: bytes
) -> None:
    user, visits = case
    marked = VisitClosed(
        **{**msgspec.structs.asdict(_a_visit(user)), "title": title + "\x01MARK\x01" + title}
    )
    event = encode_rows(user, [*visits, marked])
    assert event.rows.count(b"\x01MARK\x01") == 1  # no other field holds the control chars
    rows = event.rows.replace(b"\x01MARK\x01", b"\x01" + bad.ljust(4, b"A") + b"\x01")
    _rejected(msgspec.structs.replace(event, rows=rows), "title is not UTF-8")


@settings(max_examples=300, deadline=None)
@given(case=one_user, data=st.data())
def test_any_damage_is_a_value_error_or_well_formed_rows(
    case: tuple[str, list[VisitClosed]], data: st.DataObject
) -> None:
    """Bytes overwritten anywhere: never another exception; what still decodes is rows of
    the user, as many as the count says, in the layout's types."""
    user, visits = case
    event = encode_rows(user, visits)
    rows = bytearray(event.rows + data.draw(st.binary(max_size=3)))
    for _ in range(data.draw(st.integers(0, 3)) if rows else 0):
        rows[data.draw(st.integers(0, len(rows) - 1))] = data.draw(st.integers(0, 255))
    damaged = msgspec.structs.replace(event, rows=bytes(rows))
    try:
        decoded = decode_rows(damaged)
    except ValueError:
        assert select_rows(damaged, set()) is None
        return
    assert len(decoded) == event.count
    assert all(row[1] == uuid.UUID(user).bytes for row in decoded)
    assert all(len(row[i]) == 16 for row in decoded for i in (0, 1, 2))
    assert encode_staged(user, decoded).rows == damaged.rows


def _a_visit(user: str, session: str = SESSIONS[0], **changes: Any) -> VisitClosed:
    fields: dict[str, Any] = {
        "user_id": user,
        "visit_id": str(uuid.UUID(int=7)),
        "client_id": "c1",
        "session_id": session,
        "tab_id": 3,
        "url": "https://example.com/",
        "url_hash": "ab",
        "domain": "example.com",
        "title": "Example",
        "start_ts": 1_700_000_000_000,
        "end_ts": 1_700_000_001_000,
        "dwell_ms": 1000,
        "opened_seq": 4,
    }
    return VisitClosed(**{**fields, **changes})


def _field(value: bytes | None) -> bytes:
    return struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value


def _row(fields: list[bytes | None]) -> bytes:
    """A binary COPY row built by hand: the field count, then each field's size and bytes."""
    return struct.pack(">h", len(fields)) + b"".join(map(_field, fields))


USER = str(uuid.UUID(int=42))


def _good_fields() -> list[bytes | None]:
    """The fields of one well-formed row of ``USER``, built by hand from the layout."""
    seven, user = uuid.UUID(int=7).bytes, uuid.UUID(USER).bytes
    i4, i8 = struct.Struct(">i").pack, struct.Struct(">q").pack
    head: list[bytes | None] = [seven, user, seven, b"c", i4(1), b"h", b"", b"u", b"t", b"d"]
    return [*head, i8(0), i8(1000), i8(5), b"", i8(6)]


def test_a_hand_made_row_reads_back() -> None:
    event = VisitRows(user_id=USER, layout=1, count=1, rows=_row(_good_fields()))
    (row,) = decode_rows(event)
    assert row[3:] == ("c", 1, "h", "", "u", "t", "d", 0, 1000, 5, "", 6)
    columns = as_columns(event)
    assert (columns.start_ts, columns.end_ts) == ([946_684_800_000], [946_684_800_001])
    assert columns.visit_id == columns.session_id == [str(uuid.UUID(int=7))]


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (0, b"\x00" * 15, "visit_id of 15 bytes, not a UUID's 16"),
        (2, b"\x00" * 17, "session_id of 17 bytes"),
        (1, uuid.UUID(int=43).bytes, "another user"),
        (4, b"\x00" * 8, "tab_id of 8 bytes, not 4"),
        (10, b"\x00" * 4, "start_at of 4 bytes, not 8"),
        (12, b"", "dwell_ms of 0 bytes, not 8"),
        (8, None, "title is NULL"),
        (0, None, "visit_id is NULL"),
        (14, None, "opened_seq is NULL"),
        (11, struct.pack(">q", 2**63 - 2), "end_at 9223372036854775806 µs since 2000 is beyond"),
        (10, struct.pack(">q", -(2**62)), "beyond PostgreSQL's range"),
    ],
)
def test_a_malformed_field_is_rejected(index: int, value: bytes | None, reason: str) -> None:
    fields = _good_fields()
    fields[index] = value
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=_row(fields)), reason)


def test_malformed_rows_are_rejected() -> None:
    good = _row(_good_fields())
    fewer, more = _row(_good_fields()[:-1]), _row([*_good_fields(), b""])
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=fewer), "of 14 fields, not 15")
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=more), "of 16 fields, not 15")
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=good + b"\x00"), "truncated")
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=good + TRAILER), "of -1 fields")
    _rejected(VisitRows(user_id=USER, layout=1, count=2, rows=good * 2 + b"\x00\x0f"), "trunc")
    _rejected(VisitRows(user_id=USER, layout=1, count=0, rows=b"\x00"), "truncated")
    cut = good[:-1]  # the last field's size says 8, 7 bytes follow
    _rejected(VisitRows(user_id=USER, layout=1, count=1, rows=cut), "truncated in opened_seq")
    fields = _good_fields()
    fields[10] = struct.pack(">q", 1)  # 1 µs: no whole millisecond
    event = VisitRows(user_id=USER, layout=1, count=1, rows=_row(fields))
    assert decode_rows(event)[0][10] == 1  # the staging row as it is...
    with pytest.raises(ValueError, match="millisecond"):
        as_columns(event)  # ...but no Unix ms


@pytest.mark.parametrize("user", [USER.upper().replace("-", ""), "not-a-user", "", USER + " "])
def test_a_user_id_that_is_no_canonical_uuid_is_rejected(user: str) -> None:
    rows = _row(_good_fields())
    _rejected(VisitRows(user_id=user, layout=1, count=1, rows=rows), "no canonical UUID")
    with pytest.raises(ValueError, match="VisitRows"):
        encode_rows(user, [])


def test_only_what_reads_back_is_encoded() -> None:
    with pytest.raises(ValueError, match="another user"):
        encode_rows(USER, [_a_visit(USER), _a_visit(str(uuid.UUID(int=43)))])
    for changes in (
        {"session_id": "abcd"},  # hex, but no UUID: 2 bytes
        {"visit_id": "not-a-visit"},
        {"tab_id": 2**31},  # psycopg's int4 dumper would wrap it
        {"dwell_ms": 2**63},
        {"title": "\ud800"},  # a lone surrogate: no UTF-8
    ):
        with pytest.raises(ValueError, match="VisitRows"):
            encode_rows(USER, [_a_visit(USER, **changes)])
    staged = _staged([_a_visit(USER)])
    with pytest.raises(ValueError, match="another user"):
        encode_staged(str(uuid.UUID(int=43)), staged)
    with pytest.raises(ValueError, match="fields"):
        encode_staged(USER, [staged[0][:-1]])


@settings(max_examples=200, deadline=None)
@given(case=one_user, drop=st.sets(st.sampled_from([*SESSIONS, str(uuid.UUID(int=9))])))
def test_select_rows_keeps_exactly_the_other_sessions_visits(
    case: tuple[str, list[VisitClosed]], drop: set[str]
) -> None:
    user, visits = case
    event = encode_rows(user, visits)
    kept = [v for v in visits if v.session_id not in drop]
    selected = select_rows(event, drop)
    if not kept:
        assert selected is None
    elif len(kept) == len(visits):
        assert selected is event
    else:
        assert selected == encode_rows(user, kept)  # the same bytes, in order
        assert selected is not None and decode_rows(selected) == _staged(kept)


def test_select_rows_matches_the_sessions_canonical_text() -> None:
    upper = SESSIONS[2].upper()
    event = encode_rows(USER, [_a_visit(USER, upper), _a_visit(USER, SESSIONS[0])])
    selected = select_rows(event, {SESSIONS[2]})  # the stored UUID, whatever its case was
    assert selected is not None and decode_rows(selected) == _staged([_a_visit(USER)])
    assert select_rows(event, {upper}) is event  # the ids are matched as lower-case text
