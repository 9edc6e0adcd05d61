"""A Faust worker used by the worker-group tests: the largest number seen per key, in a table.

Run as ``python -m tests.integration.processors.transport.group_app`` with ``T_BROKER``,
``T_APP_ID``, ``T_PARTITIONS`` (default 24), ``T_COMMIT_INTERVAL``, ``T_SLOW_MS`` (a pause
per message, so a stopped worker has work in flight) and ``T_TRACK_URL``/``T_TRACK_KEY``
(every processed ``partition:offset`` is counted in that Redis hash). The table's update
is idempotent (a maximum), so a replay after a crash leaves it as an uninterrupted run
would; only a stale write from a worker that lost its partition could make it wrong.
"""

from __future__ import annotations

import asyncio
import os

import faust
import redis.asyncio as aioredis

from mindhit.redis_client import connect_redis

PARTITIONS = int(os.environ.get("T_PARTITIONS", "24"))
SLOW_S = float(os.environ.get("T_SLOW_MS", "0")) / 1000

app = faust.App(
    os.environ["T_APP_ID"],
    broker=os.environ["T_BROKER"],
    topic_partitions=PARTITIONS,
    value_serializer="raw",
    key_serializer="raw",
    store="memory://",
    broker_commit_interval=float(os.environ.get("T_COMMIT_INTERVAL", "0.5")),
    web_enabled=False,
    autodiscover=False,
)
numbers = app.topic("numbers", partitions=PARTITIONS, key_type=bytes, value_type=bytes)
latest = app.Table("latest", default=int, partitions=PARTITIONS, key_type=str, value_type=int)
_track: aioredis.Redis | None = (
    connect_redis(os.environ["T_TRACK_URL"]) if os.environ.get("T_TRACK_URL") else None
)


@app.agent(numbers)
async def keep_latest(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
        if SLOW_S:
            await asyncio.sleep(SLOW_S)
        latest[key] = max(latest[key], int(event.value))
        if _track is not None:
            message = event.message
            await _track.hincrby(
                os.environ["T_TRACK_KEY"], f"{message.partition}:{message.offset}", 1
            )


if __name__ == "__main__":
    app.main()
