"""The chaos soak on Redis Cluster: slots resharded under load and a failover lose nothing.

``bench/chaos.py --redis cluster`` runs the real gateway, two processors workers and
two projector replicas (each group sharing the partitions) on a private cluster (three
masters with a replica each, ``MINDHIT_WAIT_REPLICAS=1``) while 20 simulated users
browse for 45 s, and meanwhile: every partition's slot (its streams in every topic,
offsets, leases, idempotency state) moves to another master key by key (clients meet
``ASK``, ``TRYAGAIN``, then ``MOVED``); the node every component was given in its URL
is killed (``kill -9``), its replica takes over, and it comes back as a replica; then a
processors worker and a projector replica are killed and started again against that
URL. What a user would notice is what the soak counts: an acknowledged
event missing from the archive, a visit lost, shown twice or with another dwell, a
session's totals wrong, a stopped session without its mind map.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LOSS = (
    "missing_events",
    "lost_visits",
    "duplicate_visits",
    "dwell_mismatches",
    "session_mismatches",
    "sessions_without_map",
)


@pytest.mark.timeout(290)
def test_resharding_and_a_failover_of_the_startup_node_lose_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--redis", "cluster",
         "--minutes", "0.75", "--users", "20", "--drain-timeout", "90",
         "--processors", "2", "--projectors", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), done.stderr[-4000:]
    figures = json.loads(lines[-1])
    report = f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert figures["drained"], report
    assert {k: figures[k] for k in LOSS} == dict.fromkeys(LOSS, 0), report
    assert figures["refused_uploads"] == figures["rejected_events"] == 0, report
    assert figures["reshards"] == 4 and figures["failovers"] == 1, report
    assert figures["acked_events"] > 500 and figures["visits"] > 150, report
    assert figures["processors"] == figures["projectors"] == 2, report
    # No component died by itself (the kills' restarts would hide it).
    assert figures["found_dead"] == figures["exited"] == [], report
    assert done.returncode == 0, report
