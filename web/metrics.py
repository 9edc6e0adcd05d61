"""Prometheus metrics of the dashboard: request latency per route, sign-in outcomes.

Each app owns its registry (tests build several apps in one process); ``/metrics``
serves it. Routes are labelled by their path template (``/sessions/{session_id:str}``),
never by the concrete path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["MetricsMiddleware", "WebMetrics"]


class WebMetrics:
    """The dashboard's metric families, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "mindhit_web_request_seconds",
            "Time to answer a dashboard request.",
            ["route", "method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.signins = Counter(
            "mindhit_web_signins_total",
            "Sign-in attempts by outcome (ok, wrong, limited).",
            ["outcome"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request into ``WebMetrics.request_seconds``."""

    def __init__(self, app: ASGIApp, *, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = str(scope.get("path_template") or "unmatched")  # type: ignore[typeddict-item]
            method = str(scope.get("method", "GET"))
            self.metrics.request_seconds.labels(route, method, str(status)).observe(
                time.perf_counter() - began
            )
