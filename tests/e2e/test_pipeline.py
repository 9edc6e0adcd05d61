"""Pipelines run one after another in one test database, each with a log of its own.

The browser tests share the run's database while every pipeline they start writes a
new log (its own key prefix). The projector's checkpoints name a topic partition
without the key prefix, so a pipeline that found an earlier pipeline's checkpoints
would resume at that log's offsets and skip the first entries of its own: in the full
suite, the pairing test's user got no visits at all whenever its partition had been
busier in an earlier test module.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from projector.projections import PROJECTIONS
from tests.e2e.pipeline import running_pipeline

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.timeout(300),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
FAR = 10_000
"""An earlier log's checkpoint: far beyond anything one demo session appends."""

VISITS = "SELECT count(*) FROM page_visits v JOIN users u USING (user_id) WHERE u.email = %s"


def _earlier_pipeline_was_here(database_url: str, partitions: int) -> None:
    """Checkpoints as a busier earlier pipeline leaves them, on every topic partition."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection in PROJECTIONS.values():
            for topic in projection.topics:
                for partition in range(partitions):
                    conn.execute(
                        "INSERT INTO projection_checkpoints"
                        " (projection, topic, partition, next_offset) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (projection, topic, partition)"
                        " DO UPDATE SET next_offset = excluded.next_offset",
                        (projection.name, topic, partition, FAR),
                    )


def test_a_pipeline_started_after_another_shows_its_first_session(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    email = f"after-{uuid.uuid4().hex[:8]}@example.com"
    _earlier_pipeline_was_here(database_url, partitions=4)
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path / "data",
        logs=ARTIFACTS / "logs-pipeline",
    ) as pipeline:
        assert pipeline.env["MINDHIT_PARTITIONS"] == "4"
        out = pipeline.mindhit(
            "demo",
            "--email",
            email,
            "--password",
            "a long enough password",
            "--sessions",
            "1",
            "--gateway",
            pipeline.gateway_url,
        )
    demo = json.loads(out.strip().splitlines()[-1])
    # The session went through the new log to the user's session list and timeline.
    assert demo["ready"] == 1, demo
    with psycopg.connect(database_url) as conn:
        row = conn.execute(VISITS, (email,)).fetchone()
    assert row is not None and row[0] > 0
