"""Faust on Redis Streams: the ``redis://`` transport driver.

``faust.App(id, broker="redis://host:6379/0?prefix=mindhit")`` selects it through
the ``faust.transports`` entry point. Topics are partition streams keyed by
:func:`schema.topics.stream_key`, appended only through :mod:`mindhit.streams`
(dense offsets), with committed offsets and topic metadata in Redis hashes.
"""

from __future__ import annotations

from processors.transport.options import TransportOptions, broker_url, parse_broker_url
from processors.transport.transport import Transport

__all__ = ["Transport", "TransportOptions", "broker_url", "parse_broker_url"]
