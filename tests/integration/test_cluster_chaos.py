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

import pytest

from tests.support.chaos import run_soak

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(290)
def test_resharding_and_a_failover_of_the_startup_node_lose_nothing() -> None:
    figures, report = run_soak(
        "--redis", "cluster", "--minutes", "0.75", "--users", "20", "--drain-timeout", "90",
        "--processors", "2", "--projectors", "2",
    )  # fmt: skip
    assert figures["reshards"] == 4 and figures["failovers"] == 1, report
    assert figures["acked_events"] > 500 and figures["visits"] > 150, report
    assert figures["processors"] == figures["projectors"] == 2, report
