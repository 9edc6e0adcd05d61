"""Prometheus metrics of the redis:// transport (served by the worker's ``/metrics``).

Counted per pipelined batch or per fetch, never per message, so the hot path
stays cheap.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "APPENDED",
    "APPEND_RETRIES",
    "COMMITTED",
    "COMMIT_RETRIES",
    "COMMIT_STALLED",
    "COMPACTED",
    "FETCHED",
    "FETCH_ERRORS",
    "HIGHWATER",
    "LEASE_HELD",
    "LOG_LOST",
    "REPLICATION_LOST",
    "REPLICATION_TIMEOUTS",
    "REPLICATION_WAITS",
]

APPENDED = Counter(
    "mindhit_transport_appended_total", "Messages appended by the Faust producer", ["topic"]
)
APPEND_RETRIES = Counter(
    "mindhit_transport_append_retries_total", "Pipelined append batches retried after a Redis error"
)
FETCHED = Counter(
    "mindhit_transport_fetched_total", "Stream entries fetched by the Faust consumer", ["topic"]
)
FETCH_ERRORS = Counter(
    "mindhit_transport_fetch_errors_total", "Fetches that failed because Redis was unreachable"
)
COMMIT_RETRIES = Counter(
    "mindhit_transport_commit_retries_total",
    "Offset commits retried after a Redis error (they are retried until stored)",
)
COMMIT_STALLED = Gauge(
    "mindhit_transport_commit_stalled_seconds",
    "How long the commit in progress has been held back by appends retried or replicas"
    " waited for (0: none); it is given up after MINDHIT_PRODUCER_TIMEOUT_S",
)
COMMITTED = Gauge(
    "mindhit_transport_committed_offset",
    "Committed offset (next to read) per partition",
    ["topic", "partition"],
)
HIGHWATER = Gauge(
    "mindhit_transport_highwater",
    "Offset the next append gets, per partition",
    ["topic", "partition"],
)
COMPACTED = Counter(
    "mindhit_transport_compacted_entries_total", "Superseded changelog entries deleted", ["topic"]
)
LEASE_HELD = Gauge(
    "mindhit_transport_lease_held", "Partition leases this worker holds in its group"
)
LOG_LOST = Gauge(
    "mindhit_transport_log_lost",
    "1 once Redis lost the log under this worker's committed offsets (it stands still)",
)
REPLICATION_WAITS = Counter(
    "mindhit_transport_replication_waits_total",
    "Replication checks (WAIT) of the producer's appends before a commit, per node checked",
)
REPLICATION_TIMEOUTS = Counter(
    "mindhit_transport_replication_timeouts_total",
    "Replication checks that failed (too few replicas in time, or the node unreachable); retried",
)
REPLICATION_LOST = Counter(
    "mindhit_transport_replication_lost_total",
    "Flushes refused because appends vanished before replicas held them (a failover)",
)
