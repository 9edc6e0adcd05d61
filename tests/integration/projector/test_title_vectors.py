"""Housekeeping fills in the title vectors the fold left NULL (migration 190), never
waiting on a batch and never leaving a user with a NULL vector unmarked."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.synthetic import synth_log, write_log
from projector.title_vectors import fill_title_vectors

from .conftest import fold_all

pytestmark = pytest.mark.integration

_WRONG = (
    "SELECT count(*) FROM page_titles"
    " WHERE search IS DISTINCT FROM setweight(to_tsvector('english', title), 'A')"
)


def _one(pg: psycopg.Connection[Any], query: str) -> Any:
    row = pg.execute(query).fetchone()  # type: ignore[arg-type]
    pg.commit()
    return row[0] if row else None


async def test_the_fill_skips_rows_a_batch_holds_and_marks_their_user_again(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    await write_log(
        aredis, settings, list(synth_log(7, users=2, sessions_per_user=2, visits_per_session=5))
    )
    await fold_all(settings, aredis, pg)
    titles = _one(pg, "SELECT count(*) FROM page_titles")
    assert titles > 0 and _one(pg, _WRONG) == titles  # the fold parses nothing
    assert _one(pg, "SELECT count(*) FROM page_titles_unparsed") == 2
    with psycopg.connect(database_url) as batch:  # a batch holding one title row
        held = batch.execute(
            "SELECT user_id FROM page_titles"
            " ORDER BY user_id, url_hash, content_hash, title LIMIT 1 FOR UPDATE"
        ).fetchone()
        assert held
        assert fill_title_vectors(pg, chunk=3) == titles - 1  # in chunks, not waiting
        assert _one(pg, _WRONG) == 1
        marked = pg.execute("SELECT user_id FROM page_titles_unparsed").fetchall()
        pg.commit()
        assert marked == [(held[0],)]
        batch.rollback()
    assert fill_title_vectors(pg) == 1
    assert _one(pg, _WRONG) == 0
    assert _one(pg, "SELECT count(*) FROM page_titles_unparsed") == 0
    assert fill_title_vectors(pg) == 0
