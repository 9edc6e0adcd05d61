"""Prometheus metrics of the processors (served on ``/metrics`` of the worker's web server)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "AI_CALLS",
    "DEAD_LETTERS",
    "DUPLICATE_EVENTS",
    "ENTRY_SECONDS",
    "EVENTS",
    "LATE_EVENTS",
    "MINDMAPS",
    "SEQ_GAPS",
    "SESSIONS_CLOSED",
    "URL_VERSIONS",
    "USERS_IN_MEMORY",
    "VISITS",
]

EVENTS = Counter("mindhit_processors_events_total", "Raw client events folded")
DUPLICATE_EVENTS = Counter(
    "mindhit_processors_duplicate_events_total", "Events ignored as duplicates (client_id, seq)"
)
SEQ_GAPS = Counter(
    "mindhit_processors_seq_gap_events_total", "Events missing from client sequences"
)
LATE_EVENTS = Counter(
    "mindhit_processors_late_events_total", "Events of an already stopped session, ignored"
)
VISITS = Counter("mindhit_processors_visits_total", "Visits closed")
SESSIONS_CLOSED = Counter("mindhit_processors_sessions_closed_total", "Sessions closed")
URL_VERSIONS = Counter("mindhit_processors_url_versions_total", "New (url, content) versions seen")
AI_CALLS = Counter("mindhit_processors_ai_calls_total", "AI provider calls", ["kind", "outcome"])
MINDMAPS = Counter("mindhit_processors_mindmaps_total", "Mind maps", ["outcome"])
DEAD_LETTERS = Counter(
    "mindhit_processors_dead_letters_total", "Work sent to dead letters", ["kind"]
)
ENTRY_SECONDS = Histogram(
    "mindhit_processors_entry_seconds",
    "Time of one handler call: one log entry (dwell: the entries waiting, up to 16)",
    ["agent"],
)
USERS_IN_MEMORY = Gauge("mindhit_processors_users_in_memory", "Users with open sessions in memory")
