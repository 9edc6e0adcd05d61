"""Faust app options derived from MindHit settings, so every worker is configured alike.

``faust.App(app_id, **faust_app_options(settings))`` gives an app on the
``redis://`` transport with the key prefix and partition count of the settings,
raw values (agents decode log entries with msgspec themselves), offsets
committed every ``commit_interval_s``, and Faust's web server bound to the
processors' configured host and port (never all interfaces).
"""

from __future__ import annotations

from typing import Any

from mindhit.settings import Settings
from processors.transport.options import broker_url

__all__ = ["faust_app_options"]


def faust_app_options(
    settings: Settings, redis_url: str, *, web: bool = True, **overrides: Any
) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` (``redis_url`` is the resolved Redis URL)."""
    options: dict[str, Any] = {
        "broker": broker_url(redis_url, settings.key_prefix),
        "topic_partitions": settings.partitions,
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "broker_commit_interval": settings.commit_interval_s,
        "processing_guarantee": "at_least_once",
        "web_enabled": web,
        "web_bind": settings.processors_host,
        "web_host": settings.processors_host,
        "web_port": settings.processors_port,
        "autodiscover": False,
    }
    options.update(overrides)
    return options
