"""The report counter, shared by the reporter (sent, skipped, failed) and the outbox (abandoned)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["REPORTS"]

REPORTS = Counter("mindhit_reports_total", "Session report emails", ["outcome"])
"""Outcomes: ``sent``, ``skipped`` (reports off or no address), ``failed`` (one attempt;
the report stays in the outbox for a retry) and ``abandoned`` (out of attempts)."""
