"""The staging COPY data built in C (projector.copy_rows) is what psycopg's write_row sends,
and the visits' ids and times are sent in their stored types' binary form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg import adapt, pq
from psycopg._copy_base import BinaryFormatter

from projector.consumer import fold_value
from projector.copy_rows import binary_copy_data, staged_rows
from projector.folds import Batch
from projector.pg import _BATCH_ROWS
from projector.synthetic import synth_log
from projector.tables import PAGE_VISITS, READ_TABLES, ReadTable
from schema.derived import VisitClosed

_2000 = datetime(2000, 1, 1, tzinfo=UTC)


def _write_rows(types: list[str], rows: list[Any]) -> bytes:
    """What ``Copy.set_types`` + ``Copy.write_row`` per row + the end of the COPY send."""
    registry = psycopg.adapters.types
    formatter = BinaryFormatter(adapt.Transformer())
    formatter.transformer.set_dumper_types([registry.get_oid(t) for t in types], pq.Format.BINARY)
    out = b"".join(bytes(formatter.write_row(row)) for row in rows)
    return out + bytes(formatter.end())


def _expected(table: ReadTable, op: Any) -> tuple[Any, ...]:
    """The row of ``op``, converted the slow way: a UUID's bytes, µs since 2000."""
    out: list[Any] = []
    for column in table.columns:
        value = getattr(op, column.attr or column.name)
        if column.staged == "uuid":
            value = uuid.UUID(value).bytes
        elif column.staged == "timestamptz":
            at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
            value = (at - _2000) // timedelta(microseconds=1)
        out.append(value)
    return tuple(out)


def _batch() -> Batch:
    """A batch of one ``VisitClosed`` per visit (converted here; columns are staged as
    they are folded, ``tests/unit/projector/test_visit_columns.py``)."""
    batch = Batch()
    log = synth_log(7, users=3, sessions_per_user=2, visits_per_session=5, visit_shape="events")
    for item in log:
        fold_value(batch, item.topic, item.value)
    return batch


def test_every_staged_table_gets_write_rows_bytes() -> None:
    batch = _batch()
    for name, table in READ_TABLES.items():
        ops = list(getattr(batch, _BATCH_ROWS[name]).values())
        assert ops, name  # the synthetic log folds rows of every table
        expected = _write_rows(table.copy_types, [_expected(table, op) for op in ops])
        for rows_per_chunk in (1, 3, len(ops), 4096):
            data = binary_copy_data(None, table.copy_types, staged_rows(table), ops, rows_per_chunk)
            assert b"".join(data) == expected, (name, rows_per_chunk)


def test_no_rows_is_an_empty_copy() -> None:
    types = PAGE_VISITS.copy_types
    data = binary_copy_data(None, types, staged_rows(PAGE_VISITS), [])
    assert b"".join(data) == _write_rows(types, [])


def test_a_visit_is_staged_in_its_stored_types() -> None:
    batch = _batch()
    (key, visit), *_ = batch.visits.items()
    assert isinstance(visit, VisitClosed) and key == (visit.user_id, visit.visit_id)
    upper = msgspec.structs.replace(
        visit,
        visit_id=visit.visit_id.upper(),
        user_id=visit.user_id.upper(),
        start_ts=-1,  # before 1970
        end_ts=253_402_300_799_999,  # 9999-12-31T23:59:59.999Z: exact, no float rounding
    )
    (row, row_upper) = staged_rows(PAGE_VISITS)([visit, upper])
    staged = dict(zip(PAGE_VISITS.copy_columns, row, strict=True))
    assert staged["visit_id"] == uuid.UUID(visit.visit_id).bytes
    assert (staged["user_id"], staged["session_id"]) == (
        uuid.UUID(visit.user_id).bytes,
        uuid.UUID(visit.session_id).bytes,
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert _2000 + timedelta(microseconds=staged["start_at"]) == epoch + timedelta(
        milliseconds=visit.start_ts
    )
    assert staged["title"] == visit.title and staged["dwell_ms"] == visit.dwell_ms
    assert row_upper[:3] == row[:3]  # the same UUIDs, whatever the hex digits' case
    assert _2000 + timedelta(microseconds=row_upper[10]) == datetime(
        1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )
    assert _2000 + timedelta(microseconds=row_upper[11]) == datetime(
        9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )
