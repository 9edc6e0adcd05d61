"""The chaos soak in reduced form: one minute, 35 users, every fault type, nothing lost.

Two processors workers and two projector replicas share the partitions (each kill or
pause hits one of them), so partitions move between live members during the run.

``bench/chaos.py`` runs its own Redis and PostgreSQL (it restarts them), so this
test needs neither the shared services nor a key prefix: it runs the soak as a
child process and reads the JSON of its last line. What a user would notice is
exactly what the figures count: an acknowledged event missing from the archive, a
visit missing, shown twice or with another dwell time, a session whose totals
are wrong, a stopped session without its mind map.
"""

from __future__ import annotations

import pytest

from tests.support.chaos import run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(290)
def test_one_minute_of_crashes_and_restarts_loses_nothing() -> None:
    figures, report = run_soak(
        "--minutes", "1", "--users", "35", "--drain-timeout", "90",
        "--processors", "2", "--projectors", "2",
    )  # fmt: skip
    # Every fault type happened, and the users did what the soak is about.
    assert figures["kills"] >= 7 and figures["restarts"] >= 9 and figures["pauses"] >= 1, report
    assert figures["acked_events"] > 1000 and figures["visits"] > 300, report
    assert figures["server_stops"] > 0 and figures["duplicates_answered"] > 0, report
    assert figures["processors"] == figures["projectors"] == 2, report
