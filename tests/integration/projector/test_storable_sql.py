"""PostgreSQL cuts a staged title and domain exactly as the Python rule does
(:mod:`mindhit.storable_visit`): a visit stores one value whatever path it took."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindhit.storable_visit import (
    STAGED_FIXES,
    STAGED_OVERSIZE,
    storable_domain,
    storable_title,
)

pytestmark = pytest.mark.integration

texts = st.text(st.sampled_from("aé中😀"), max_size=2100)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=5))
def test_the_sql_rule_is_the_python_rule(
    pg: psycopg.Connection[Any], values: list[tuple[str, str]]
) -> None:
    pg.execute("CREATE TEMP TABLE IF NOT EXISTS cut (n int, title text, domain text)")
    pg.execute("DELETE FROM cut")
    with pg.cursor() as cur:
        cur.executemany(
            "INSERT INTO cut VALUES (%s, %s, %s)", [(i, t, d) for i, (t, d) in enumerate(values)]
        )
    pg.execute(f"UPDATE cut SET {STAGED_FIXES} WHERE {STAGED_OVERSIZE}")  # type: ignore[arg-type]
    stored = pg.execute("SELECT title, domain FROM cut ORDER BY n").fetchall()
    pg.rollback()
    assert stored == [(storable_title(t), storable_domain(d)) for t, d in values]
