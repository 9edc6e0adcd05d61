"""Closed visits as binary COPY rows (:class:`schema.derived.VisitRows`): the codec, pure.

Why: building a staging row per visit and formatting it is most of what the projector
spends on a visit beyond the COPY itself; when an entry's visits arrive as the rows of a
binary COPY into the visits staging table, the projector sends those bytes as they are
(~0.28 s less CPU per 100,000 visits, issue 14). The processors encode them
(:func:`encode_rows`, next release); the projector COPYs them and, on its rare paths
(a session's erasure rewriting the archive, a reader wanting the visits), decodes them
here. The bytes are another process's claim, so decoding checks everything it reads: the
layout, every field's size, the row count and that every row is the event's user's.

Layout 1 is :data:`projector.tables.PAGE_VISITS`' staging columns in their staged types
(:mod:`projector.copy_rows`: ids as a UUID's 16 bytes, times as microseconds since 2000).
A change of those columns must add a layout (the log keeps layout 1 entries): importing
this module fails until it does.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Container, Sequence
from functools import cache
from typing import Any, Final, cast

from psycopg.abc import Transformer

from projector.copy_rows import (
    EPOCH_2000_MS,
    binary_transformer,
    format_rows,
    staged_rows,
    uuid_bytes,
)
from projector.rows import UUID_TEXT
from projector.tables import PAGE_VISITS
from projector.visit_columns import StagedVisit
from schema.derived import VisitClosed, VisitRows, VisitsClosed

__all__ = ["LAYOUT", "as_columns", "decode_rows", "encode_rows", "encode_staged", "select_rows"]

LAYOUT: Final = 1
"""The layout :func:`encode_rows` writes: ``PAGE_VISITS.copy_columns`` in ``copy_types``."""

_LAYOUT_1: Final = (
    ("visit_id", "uuid"),
    ("user_id", "uuid"),
    ("session_id", "uuid"),
    ("client_id", "text"),
    ("tab_id", "int4"),
    ("url_hash", "text"),
    ("content_hash", "text"),
    ("url", "text"),
    ("title", "text"),
    ("domain", "text"),
    ("start_at", "timestamptz"),
    ("end_at", "timestamptz"),
    ("dwell_ms", "int8"),
    ("end_reason", "text"),
    ("opened_seq", "int8"),
)
"""Layout 1's columns and staged types, spelled out: what entries in the log hold."""

_WIRE_OF: Final = {
    "uuid": "bytea",
    "text": "text",
    "int4": "int4",
    "int8": "int8",
    "timestamptz": "int8",
}
"""Staged type → its binary COPY type (as :attr:`projector.tables.ReadTable.copy_types`)."""

if (
    tuple(c for c, _ in _LAYOUT_1) != PAGE_VISITS.copy_columns
    or [_WIRE_OF[t] for _, t in _LAYOUT_1] != PAGE_VISITS.copy_types
):
    raise RuntimeError("PAGE_VISITS' staging columns changed: add a VisitRows layout")

_NAMES: Final = tuple(c for c, _ in _LAYOUT_1)
_STAGED: Final = tuple(t for _, t in _LAYOUT_1)
_FIELDS: Final = len(_LAYOUT_1)
_USER_AT: Final = _NAMES.index("user_id")
_SESSION_AT: Final = _NAMES.index("session_id")
_UUID_AT: Final = tuple(i for i, t in enumerate(_STAGED) if t == "uuid")
_INT4_AT: Final = tuple(i for i, t in enumerate(_STAGED) if t == "int4")
_SOURCE: Final = tuple(c.attr or c.name for c in PAGE_VISITS.columns)
"""Each column's :class:`VisitClosed` field (``start_ts`` for ``start_at``...)."""

_I16: Final = struct.Struct(">h")
_I32: Final = struct.Struct(">i")
_I64: Final = struct.Struct(">q")
_INT4_MIN, _INT4_MAX = -(2**31), 2**31 - 1


@cache
def _transformer() -> Transformer:
    """The transformer dumping layout 1's types (built once: it holds no connection)."""
    return binary_transformer(None, PAGE_VISITS.copy_types)


def encode_rows(user_id: str, visits: Sequence[VisitClosed]) -> VisitRows:
    """``user_id``'s ``visits`` as one :class:`VisitRows` of layout :data:`LAYOUT`: the
    rows :func:`projector.copy_rows.binary_copy_data` sends for them, without its header
    and trailer.

    Raises ``ValueError`` when a visit is another user's, or a field cannot be staged so
    that it reads back as it is (an id that is no canonical UUID, a ``tab_id`` beyond
    int4, an integer beyond int8, text that is no Unicode).
    """
    if any(v.user_id != user_id for v in visits):
        raise ValueError("VisitRows: a visit of another user")
    try:
        staged = cast(list[StagedVisit], list(staged_rows(PAGE_VISITS)(visits)))
    except ValueError as exc:  # an id that is no UUID's hex digits
        raise ValueError(f"VisitRows: an id is no UUID: {exc}") from exc
    return encode_staged(user_id, staged)


def encode_staged(user_id: str, rows: Sequence[StagedVisit]) -> VisitRows:
    """:func:`encode_rows` of visits given as their staging rows (``PAGE_VISITS``' columns
    in their staged types, :data:`projector.visit_columns.StagedVisit`); raises
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
        if not _INT4_MIN <= row[i] <= _INT4_MAX:
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


_PARSE: Final[dict[str, Callable[[str, bytes], Any]]] = {
    "uuid": _uuid,
    "text": _text,
    "int4": _integer(4, _I32.unpack),
    "int8": _integer(8, _I64.unpack),
    "timestamptz": _integer(8, _I64.unpack),
}
_PARSERS: Final = tuple((name, _PARSE[t]) for name, t in _LAYOUT_1)


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
    :func:`projector.copy_rows.staged_rows` makes of them. Raises ``ValueError`` when the
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
