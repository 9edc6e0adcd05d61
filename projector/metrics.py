"""Prometheus metrics of the projector and the archiver (served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ARCHIVED_ROWS",
    "BATCH_SECONDS",
    "EVENTS",
    "GAP_ENTRIES",
    "LAG",
    "OVERVIEW_DRAINED",
    "OVERVIEW_PENDING",
    "OVERVIEW_PENDING_AGE",
    "REJECTED",
    "TRIMMED",
]

EVENTS = Counter("mindhit_projector_events", "Events folded into read tables.", ["component"])
REJECTED = Counter(
    "mindhit_projector_rejected_events", "Events or entries that could not be projected."
)
BATCH_SECONDS = Histogram(
    "mindhit_projector_batch_seconds",
    "Time to apply one batch and its checkpoint.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GAP_ENTRIES = Counter(
    "mindhit_projector_gap_entries", "Entries missing from both Redis and the archive."
)
LAG = Gauge(
    "mindhit_projection_lag_entries",
    "Stream entries not yet folded (or archived), per projection and partition.",
    ["projection", "topic", "partition"],
)
ARCHIVED_ROWS = Counter("mindhit_archiver_rows", "Rows written to the event_log archive.")
TRIMMED = Counter("mindhit_archiver_trimmed_entries", "Stream entries trimmed from Redis.")
OVERVIEW_PENDING = Gauge(
    "mindhit_overview_pending_changes",
    "Visit changes not yet drained into the overview's rollups (the same on every replica).",
)
OVERVIEW_PENDING_AGE = Gauge(
    "mindhit_overview_pending_age_seconds",
    "Age of the oldest visit change not yet drained into the overview's rollups.",
)
OVERVIEW_DRAINED = Counter(
    "mindhit_overview_drained_changes", "Visit changes drained into the overview's rollups."
)
