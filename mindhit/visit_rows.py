"""Closed visits as binary COPY rows (:class:`schema.derived.VisitRows`): the codec, pure.

Why: building a staging row per visit and formatting it is most of what the projector
spends on a visit beyond the COPY itself; when an entry's visits arrive as the rows of a
binary COPY into the visits staging table, the projector sends those bytes as they are
(~0.28 s less CPU per 100,000 visits, issue 14). The processors encode them
(:func:`as_rows`); the projector COPYs them and, on its rare paths (a session's erasure
rewriting the archive, a reader wanting the visits), decodes them here. The core holds
the codec because two services share it. The bytes are another process's claim, so
decoding checks everything it reads: the layout, every field's size, the row count and
that every row is the event's user's.

Layout 1 is :data:`LAYOUT_1`: the projector's visits staging columns in their staged
types (:mod:`mindhit.copy_binary`: ids as a UUID's 16 bytes, times as microseconds since
2000). The projector checks its staging table against it when it loads
(:mod:`projector.staging`): a change of those columns must add a layout (the log keeps
layout 1 entries).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Container, Iterable, Sequence
from functools import cache
from operator import attrgetter
from typing import Any, Final, TypeVar

from psycopg.abc import Transformer

from mindhit.copy_binary import (
    EPOCH_2000_MS,
    UuidBytes,
    binary_transformer,
    format_rows,
    staged_column_lists,
    staged_columns,
    uuid_bytes,
)
from mindhit.storable_visit import INT4_MAX, INT4_MIN, storable_visit
from schema.derived import DerivedBase, VisitClosed, VisitRows, VisitsClosed
from schema.ids import UUID_TEXT
from schema.visits import columns_of, visit_runs

__all__ = [
    "LAYOUT",
    "LAYOUT_1",
    "WIRE_TYPES",
    "StagedVisit",
    "as_columns",
    "as_rows",
    "decode_rows",
    "encode_rows",
    "encode_staged",
    "select_rows",
]

StagedVisit = tuple[Any, ...]
"""A visit as its staging row: :data:`LAYOUT_1`'s columns' values in their staged types."""

LAYOUT: Final = 1
"""The layout :func:`encode_rows` writes."""

LAYOUT_1: Final = (
    ("visit_id", "uuid", "visit_id"),
    ("user_id", "uuid", "user_id"),
    ("session_id", "uuid", "session_id"),
    ("client_id", "text", "client_id"),
    ("tab_id", "int4", "tab_id"),
    ("url_hash", "text", "url_hash"),
    ("content_hash", "text", "content_hash"),
    ("url", "text", "url"),
    ("title", "text", "title"),
    ("domain", "text", "domain"),
    ("start_at", "timestamptz", "start_ts"),
    ("end_at", "timestamptz", "end_ts"),
    ("dwell_ms", "int8", "dwell_ms"),
    ("end_reason", "text", "end_reason"),
    ("opened_seq", "int8", "opened_seq"),
)
"""Layout 1, spelled out: each column, its staged type and the :class:`VisitClosed` field
it holds (what entries in the log hold)."""

_WIRE_OF: Final = {
    "uuid": "bytea",
    "text": "text",
    "int4": "int4",
    "int8": "int8",
    "timestamptz": "int8",
}
"""Staged type → its binary COPY type (as ``projector.tables.ReadTable.copy_types``)."""


WIRE_TYPES: Final = [_WIRE_OF[staged] for _, staged, _ in LAYOUT_1]
"""The binary COPY types layout 1's rows are formatted in, column by column."""


_NAMES: Final = tuple(c for c, _, _ in LAYOUT_1)
_STAGED: Final = tuple(t for _, t, _ in LAYOUT_1)
_SOURCE: Final = tuple(f for _, _, f in LAYOUT_1)
_FIELDS: Final = len(LAYOUT_1)
_USER_AT: Final = _NAMES.index("user_id")
_SESSION_AT: Final = _NAMES.index("session_id")
_UUID_AT: Final = tuple(i for i, t in enumerate(_STAGED) if t == "uuid")
_INT4_AT: Final = tuple(i for i, t in enumerate(_STAGED) if t == "int4")
_STAGING: Final = tuple((attrgetter(f), t, c == "visit_id") for c, t, f in LAYOUT_1)
"""How :func:`encode_rows` stages a visit (:func:`mindhit.copy_binary.staged_columns`)."""

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")


@cache
def _transformer() -> Transformer:
    """The transformer dumping layout 1's types (built once: it holds no connection)."""
    return binary_transformer(None, WIRE_TYPES)


def encode_rows(user_id: str, visits: Sequence[VisitClosed]) -> VisitRows:
    """``user_id``'s ``visits`` as one :class:`VisitRows` of layout :data:`LAYOUT`: the
    rows a binary COPY of them into the projector's staging table sends, without its
    header and trailer.

    Raises ``ValueError`` when a visit is another user's, or a field cannot be staged so
    that it reads back as it is (an id that is no canonical UUID, a ``tab_id`` beyond
    int4, an integer beyond int8, text that is no Unicode).
    """
    try:  # every visit's user is checked on its staged row (encode_staged)
        staged = list(staged_columns(visits, _STAGING, UuidBytes()))
    except ValueError as exc:  # an id that is no UUID's hex digits
        raise ValueError(f"VisitRows: an id is no UUID: {exc}") from exc
    return encode_staged(user_id, staged)


E = TypeVar("E", bound=DerivedBase)


def as_rows(events: Iterable[E]) -> list[E | VisitRows | VisitsClosed]:
    """``events`` with every run of consecutive :class:`VisitClosed` of one user replaced
    by one :class:`VisitRows` (:func:`encode_rows`; the other events as they are, the
    order kept): what the processors write (:func:`processors.agents.encode_by_topic`).

    A ``tab_id`` beyond int4 (no browser tab has one; only a hostile client sends one)
    is written as -1, no tab known (:func:`mindhit.storable_visit.storable_visit`, which
    also cuts a title or domain beyond what the tables index). A run that
    rows still cannot hold goes as columns (:func:`schema.visits.columns_of`), which every
    reader takes too, so the processors never stop on a visit.

    Every run is encoded as :func:`encode_rows` would, but the runs of ``events`` are
    staged and checked together (:func:`_rows_at_once`): an entry holds a few visits
    per user (~7 in ``bench/processors.py``), and staged and checked run by run they
    cost the processors ~3.2–3.9 µs of CPU a visit, together ~2.5–3.3 (issue 14).
    """
    items = list(visit_runs(events))
    together = iter(_rows_at_once([item for item in items if isinstance(item, list)]))
    return [
        item if not isinstance(item, list) else (next(together) or _run_rows(item))
        for item in items
    ]


def _run_rows(run: list[VisitClosed]) -> VisitRows | VisitsClosed:
    """One run of one user's visits as :func:`as_rows` writes it, run by run."""
    try:
        return encode_rows(run[0].user_id, run)
    except ValueError:
        try:
            return encode_rows(run[0].user_id, list(map(storable_visit, run)))
        except ValueError:
            return columns_of(run[0].user_id, run)


def _rows_at_once(runs: Sequence[list[VisitClosed]]) -> list[VisitRows | None]:
    """Each of ``runs`` as :func:`encode_rows` encodes it, from one staging of all their
    visits checked column by column (what :func:`_check_staged` checks row by row: each
    user id a canonical UUID, so each row's user bytes are its run's; every UUID 16
    bytes; ``tab_id`` within int4); ``None`` for a run that cannot be formatted, and for
    every run when a value fails a check (:func:`_run_rows` then finds which)."""
    memo = UuidBytes()
    try:
        for user_id in {run[0].user_id for run in runs}:
            memo[user_id] = _user_bytes(user_id)
        columns = staged_column_lists([v for run in runs for v in run], _STAGING, memo)
    except ValueError:
        return [None] * len(runs)
    lengths = {len(value) for value in memo.values()}  # every UUID column's but the key's
    for i in _UUID_AT:
        if _STAGING[i][2]:
            lengths.update(map(len, columns[i]))
    ints = [value for i in _INT4_AT for value in columns[i]]
    if lengths - {16} or (ints and not INT4_MIN <= min(ints) <= max(ints) <= INT4_MAX):
        return [None] * len(runs)
    rows, tx, start = list(zip(*columns, strict=True)), _transformer(), 0
    out: list[VisitRows | None] = []
    for run in runs:
        end = start + len(run)
        try:
            data = bytes(format_rows(rows[start:end], tx, bytearray()))
        except (OverflowError, UnicodeError):
            out.append(None)
        else:
            out.append(VisitRows(user_id=run[0].user_id, layout=LAYOUT, count=len(run), rows=data))
        start = end
    return out


def encode_staged(user_id: str, rows: Sequence[StagedVisit]) -> VisitRows:
    """:func:`encode_rows` of visits given as their staging rows (:data:`StagedVisit`); raises
    ``ValueError`` as it does."""
    user = _user_bytes(user_id)
    for row in rows:
        _check_staged(row, user)
    try:
        data = format_rows(rows, _transformer(), bytearray())
    except (OverflowError, UnicodeError) as exc:
        raise ValueError(f"VisitRows: a field cannot be encoded: {exc}") from exc
    return VisitRows(user_id=user_id, layout=LAYOUT, count=len(rows), rows=bytes(data))


def _check_staged(row: StagedVisit, user: bytes) -> None:
    if len(row) != _FIELDS:
        raise ValueError(f"VisitRows: a staged visit of {len(row)} fields, not {_FIELDS}")
    if row[_USER_AT] != user:
        raise ValueError("VisitRows: a visit of another user")
    for i in _UUID_AT:
        if type(row[i]) is not bytes or len(row[i]) != 16:
            raise ValueError(f"VisitRows: {_NAMES[i]} is no UUID")
    for i in _INT4_AT:  # psycopg's int4 dumper would wrap it silently
        if not INT4_MIN <= row[i] <= INT4_MAX:
            raise ValueError(f"VisitRows: {_NAMES[i]} {row[i]} beyond int4")


def _user_bytes(user_id: str) -> bytes:
    if not isinstance(user_id, str) or UUID_TEXT.fullmatch(user_id) is None:
        raise ValueError(f"VisitRows: user id {user_id!r} is no canonical UUID")
    return uuid_bytes(user_id)


def _uuid(name: str, data: bytes) -> bytes:
    if len(data) != 16:
        raise ValueError(f"VisitRows: {name} of {len(data)} bytes, not a UUID's 16")
    return data


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8", "strict")
    except UnicodeDecodeError as exc:
        raise ValueError(f"VisitRows: {name} is not UTF-8 ({exc.reason})") from None


def _integer(size: int, unpack: Callable[[bytes], tuple[int]]) -> Callable[[str, bytes], int]:
    def parse(name: str, data: bytes) -> int:
        if len(data) != size:
            raise ValueError(f"VisitRows: {name} of {len(data)} bytes, not {size}")
        return unpack(data)[0]

    return parse


_TIME_RANGE: Final = range(-211_813_488_000_000_000, 9_223_371_331_200_000_000)
"""PostgreSQL's ``timestamptz`` range in µs since 2000 (4714-11-24 BC to 294276 AD): a
time beyond it fails the COPY of the whole batch, also once decoded. Its two infinities
(the int8 extremes) it takes, as the binary COPY does."""
_INFINITIES: Final = (-(2**63), 2**63 - 1)
_int8: Final = _integer(8, _I64.unpack)


def _time(name: str, data: bytes) -> int:
    micros = _int8(name, data)
    if micros not in _TIME_RANGE and micros not in _INFINITIES:
        raise ValueError(f"VisitRows: {name} {micros} µs since 2000 is beyond PostgreSQL's range")
    return micros


_PARSE: Final[dict[str, Callable[[str, bytes], Any]]] = {
    "uuid": _uuid,
    "text": _text,
    "int4": _integer(4, _I32.unpack),
    "int8": _int8,
    "timestamptz": _time,
}
_PARSERS: Final = tuple((name, _PARSE[t]) for name, t, _ in LAYOUT_1)


def _row(data: bytes, pos: int, index: int) -> tuple[StagedVisit, int]:
    """The staging row starting at ``pos`` of ``data`` (row ``index``) and where it ends."""
    end = len(data)
    if pos + 2 > end:
        raise ValueError(f"VisitRows: row {index} truncated")
    (fields,) = _I16.unpack_from(data, pos)
    if fields != _FIELDS:
        raise ValueError(f"VisitRows: row {index} of {fields} fields, not {_FIELDS}")
    pos += 2
    values: list[Any] = []
    for name, parse in _PARSERS:
        if pos + 4 > end:
            raise ValueError(f"VisitRows: row {index} truncated at {name}")
        (size,) = _I32.unpack_from(data, pos)
        pos += 4
        if size < 0:
            raise ValueError(f"VisitRows: row {index}: {name} is NULL")
        if pos + size > end:
            raise ValueError(f"VisitRows: row {index} truncated in {name}")
        values.append(parse(name, data[pos : pos + size]))
        pos += size
    return tuple(values), pos


def _parsed(event: VisitRows) -> tuple[list[StagedVisit], list[int]]:
    """The staging rows of ``event`` and where each starts in ``event.rows`` (then where
    the data ends); raises ``ValueError`` naming what is wrong."""
    if event.layout != LAYOUT:
        raise ValueError(f"VisitRows: unknown layout {event.layout!r}")
    user = _user_bytes(event.user_id)
    data = bytes(event.rows)
    rows: list[StagedVisit] = []
    starts: list[int] = []
    pos = 0
    while pos < len(data):
        starts.append(pos)
        row, pos = _row(data, pos, len(rows))
        if row[_USER_AT] != user:
            raise ValueError(f"VisitRows: row {len(rows)} is another user's")
        rows.append(row)
    if len(rows) != event.count:
        raise ValueError(f"VisitRows: {len(rows)} rows, count says {event.count}")
    starts.append(len(data))
    return rows, starts


def decode_rows(event: VisitRows) -> list[StagedVisit]:
    """The visits of ``event`` as their staging rows, in order: exactly what
    the projector stages for them. Raises ``ValueError`` when the
    layout is unknown, a row is malformed (field count, NULL, sizes, UTF-8, truncated or
    trailing data), the rows are not ``count``, or one is not ``user_id``'s."""
    return _parsed(event)[0]


def _ms(micros: int) -> int:
    if micros % 1000:
        raise ValueError(f"VisitRows: time {micros} µs is no whole millisecond")
    return micros // 1000 + EPOCH_2000_MS


def as_columns(event: VisitRows) -> VisitsClosed:
    """The visits of ``event`` as a :class:`VisitsClosed` (ids as lower-case canonical
    UUIDs, times as Unix ms): :func:`schema.visits.columnar` of its visits when their ids
    were lower-case. Raises ``ValueError`` as :func:`decode_rows` does, and when a time is
    no whole millisecond (:func:`encode_rows` never writes one)."""
    rows = decode_rows(event)
    texts: dict[bytes, str] = {}

    def text(value: bytes) -> str:
        if (found := texts.get(value)) is None:
            found = texts[value] = str(uuid.UUID(bytes=value))
        return found

    fields: dict[str, Any] = {}
    for i, (source, staged) in enumerate(zip(_SOURCE, _STAGED, strict=True)):
        if i == _USER_AT:
            continue
        values = [row[i] for row in rows]
        if staged == "uuid":
            values = list(map(text, values))
        elif staged == "timestamptz":
            values = list(map(_ms, values))
        fields[source] = values
    return VisitsClosed(user_id=event.user_id, **fields)


def select_rows(event: VisitRows, sessions: Container[str]) -> VisitRows | None:
    """``event`` without the visits of ``sessions`` (session ids as canonical lower-case
    UUIDs, as :func:`as_columns` gives them): ``event`` itself when none is dropped, None
    when none is left, or when ``event`` is malformed (a fold rejects it whole anyway)."""
    try:
        rows, starts = _parsed(event)
    except ValueError:
        return None
    dropped = {s for s in {row[_SESSION_AT] for row in rows} if str(uuid.UUID(bytes=s)) in sessions}
    keep = [i for i, row in enumerate(rows) if row[_SESSION_AT] not in dropped]
    if len(keep) == len(rows):
        return event if rows else None
    if not keep:
        return None
    data = bytes(event.rows)
    kept = b"".join(data[starts[i] : starts[i + 1]] for i in keep)
    return VisitRows(user_id=event.user_id, layout=event.layout, count=len(keep), rows=kept)
