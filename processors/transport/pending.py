"""Messages queued by the producer: their encoding and how their futures are resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from faust.exceptions import ProducerSendError
from faust.types import TP, HeadersArg, RecordMetadata

from mindhit import streams
from processors.transport import metrics
from schema.log import encode_headers

__all__ = ["Pending", "encode_key", "headers_field", "resolve"]


def encode_key(key: Any) -> bytes | None:
    """Message key as bytes (Faust may hand us str or int keys after ``group_by``)."""
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    return str(key).encode()


def headers_field(headers: HeadersArg | None) -> bytes | None:
    """Encode Faust headers (mapping or pairs) for the ``h`` field; ``None`` when empty."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    encoded = [
        (str(name), value if isinstance(value, bytes) else str(value).encode())
        for name, value in pairs
    ]
    return encode_headers(encoded)


class Pending:
    """One message queued for the pipelined writer, with the future Faust awaits."""

    __slots__ = (
        "future",
        "headers",
        "key",
        "partition",
        "stream",
        "timestamp_ms",
        "topic",
        "value",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        stream: str,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int,
        headers: bytes | None,
        future: asyncio.Future[RecordMetadata],
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.stream = stream
        self.key = key
        self.value = value
        self.timestamp_ms = timestamp_ms
        self.headers = headers
        self.future = future


def resolve(batch: list[Pending], ids: list[Any]) -> None:
    """Resolve each message's future with its offset (or fail it with the append's error)."""
    appended: dict[str, int] = {}
    for item, new_id in zip(batch, ids, strict=True):
        if not isinstance(new_id, BaseException):
            appended[item.topic] = appended.get(item.topic, 0) + 1
        if item.future.done():
            continue
        if isinstance(new_id, BaseException):
            # The reply's text too: redis-py's repr of a server error is its class alone,
            # and the text says why (e.g. FENCED: the partition's lease is another's).
            item.future.set_exception(
                ProducerSendError(f"append to {item.stream} failed: {new_id!r}: {new_id}")
            )
            continue
        item.future.set_result(
            RecordMetadata(
                topic=item.topic,
                partition=item.partition,
                topic_partition=TP(item.topic, item.partition),
                offset=streams.offset_of(new_id),
                timestamp=item.timestamp_ms / 1000.0,
                timestamp_type=0,
            )
        )
    for topic, count in appended.items():
        metrics.APPENDED.labels(topic).inc(count)
