"""Prometheus metrics of the gateway, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GatewayMetrics:
    """Counters and histograms ``/metrics`` exposes.

    A registry per app keeps several apps (tests, benches) in one process apart.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.batches = Counter(
            "mindhit_gateway_batches",
            "Uploads answered, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.events = Counter(
            "mindhit_gateway_events",
            "Events received, by outcome (accepted, rejected, duplicate, blocked).",
            ["outcome"],
            registry=self.registry,
        )
        self.event_outcomes = {
            outcome: self.events.labels(outcome=outcome)
            for outcome in ("accepted", "rejected", "duplicate", "blocked")
        }
        self.entries = Counter(
            "mindhit_gateway_log_entries",
            "Raw-log entries written (each holds one or more coalesced uploads).",
            registry=self.registry,
        )
        self.entry_uploads = Histogram(
            "mindhit_gateway_entry_uploads",
            "Uploads coalesced into one raw-log entry.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )
        self.append_seconds = Histogram(
            "mindhit_gateway_append_seconds",
            "Time to append one raw-log entry (Lua script round trip).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upload_seconds = Histogram(
            "mindhit_gateway_upload_seconds",
            "Time from an upload's arrival to its answer, including coalescing.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.unavailable = Counter(
            "mindhit_gateway_unavailable",
            "Requests answered 503 because Redis or PostgreSQL failed, by dependency.",
            ["dependency"],
            registry=self.registry,
        )
        self.quarantine_unwritten = Counter(
            "mindhit_gateway_quarantine_unwritten",
            "Rejected events not kept in quarantine because Redis refused the write.",
            registry=self.registry,
        )
        self.known_texts = Counter(
            "mindhit_gateway_known_texts",
            "Page texts left out of the log because the content store already had them.",
            registry=self.registry,
        )
