"""The staging COPY data built in C (projector.copy_rows) is what psycopg's write_row sends."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import psycopg
from psycopg import adapt, pq
from psycopg._copy_base import BinaryFormatter

from projector.consumer import fold_value
from projector.copy_rows import binary_copy_data
from projector.folds import Batch
from projector.pg import _BATCH_ROWS
from projector.synthetic import synth_log
from projector.tables import PAGE_VISITS, READ_TABLES
from schema.derived import VisitClosed


def _write_rows(types: list[str], rows: list[Any]) -> bytes:
    """What ``Copy.set_types`` + ``Copy.write_row`` per row + the end of the COPY send."""
    registry = psycopg.adapters.types
    formatter = BinaryFormatter(adapt.Transformer())
    formatter.transformer.set_dumper_types([registry.get_oid(t) for t in types], pq.Format.BINARY)
    out = b"".join(bytes(formatter.write_row(row)) for row in rows)
    return out + bytes(formatter.end())


def _batch() -> Batch:
    batch = Batch()
    for item in synth_log(7, users=3, sessions_per_user=2, visits_per_session=5):
        fold_value(batch, item.topic, item.value)
    return batch


def test_every_staged_table_gets_write_rows_bytes() -> None:
    batch = _batch()
    for name, table in READ_TABLES.items():
        ops = list(getattr(batch, _BATCH_ROWS[name]).values())
        assert ops, name  # the synthetic log folds rows of every table
        row = attrgetter(*table.copy_attrs)
        expected = _write_rows(table.copy_types, [row(op) for op in ops])
        for rows_per_chunk in (1, 3, len(ops), 4096):
            data = binary_copy_data(None, table.copy_types, row, ops, rows_per_chunk)
            assert b"".join(data) == expected, (name, rows_per_chunk)


def test_no_rows_is_an_empty_copy() -> None:
    types = PAGE_VISITS.copy_types
    data = binary_copy_data(None, types, attrgetter("a", "b"), [])
    assert b"".join(data) == _write_rows(types, [])


def test_a_visit_is_staged_from_its_event() -> None:
    batch = _batch()
    (key, visit), *_ = batch.visits.items()
    assert isinstance(visit, VisitClosed) and key == (visit.user_id, visit.visit_id)
    staged = dict(
        zip(PAGE_VISITS.copy_columns, attrgetter(*PAGE_VISITS.copy_attrs)(visit), strict=True)
    )
    assert (staged["start_at"], staged["end_at"]) == (visit.start_ts, visit.end_ts)
