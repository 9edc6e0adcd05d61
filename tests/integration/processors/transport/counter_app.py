"""A Faust worker used by the transport tests: counts messages per key in a table.

Run as ``python -m tests.integration.processors.transport.counter_app`` with
``T_BROKER`` (broker URL), ``T_APP_ID``, ``T_COMMIT_INTERVAL`` and optionally
``T_TRACK_URL`` (a Redis URL: every processed ``partition:offset`` is counted in
the hash ``<T_TRACK_KEY>``, so a test can see reprocessing after a crash).
"""

from __future__ import annotations

import os

import faust
import redis.asyncio as aioredis

from mindhit.redis_client import connect_redis

app = faust.App(
    os.environ["T_APP_ID"],
    broker=os.environ["T_BROKER"],
    topic_partitions=4,
    value_serializer="raw",
    key_serializer="raw",
    store="memory://",
    broker_commit_interval=float(os.environ.get("T_COMMIT_INTERVAL", "1.0")),
    web_enabled=False,
    autodiscover=False,
)
numbers = app.topic("numbers", partitions=4, key_type=bytes, value_type=bytes)
counts = app.Table("counts", default=int, partitions=4, key_type=str, value_type=int)
_track: aioredis.Redis | None = (
    connect_redis(os.environ["T_TRACK_URL"]) if os.environ.get("T_TRACK_URL") else None
)


@app.agent(numbers)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
        counts[key] += 1
        if _track is not None:
            message = event.message
            await _track.hincrby(
                os.environ["T_TRACK_KEY"], f"{message.partition}:{message.offset}", 1
            )


if __name__ == "__main__":
    app.main()
