"""The one definition of each read table matches the migrated schema, column for column.

The staging tables, COPY types and upserts are all derived from
:mod:`projector.tables`; if a migration adds, drops or retypes a column without the
definition following (or the other way round), this fails before any fold does.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projector.pg import ALL_TABLES, ensure_temp_tables
from projector.tables import READ_TABLES

pytestmark = pytest.mark.integration


def _columns(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " AND attgenerated = ''",
        (table,),
    ).fetchall()
    return dict(rows)


def test_every_read_table_is_defined_once_with_its_migrated_columns(
    pg: psycopg.Connection[Any],
) -> None:
    assert set(READ_TABLES) == set(ALL_TABLES)
    for name, table in READ_TABLES.items():
        defined = {c.name: c.live_type for c in table.stored}
        assert defined == _columns(pg, name), name
    pg.rollback()


def test_the_staging_tables_hold_what_the_definitions_copy(pg: psycopg.Connection[Any]) -> None:
    ensure_temp_tables(pg)
    for table in READ_TABLES.values():
        staged = _columns(pg, table.staging)
        assert staged == {c.name: c.staged_type for c in table.columns}, table.staging
        assert list(staged) == list(table.copy_columns), table.staging  # COPY order
    pg.rollback()
