"""An append Redis refused fails its message with the server's reason, not its class alone."""

from __future__ import annotations

import asyncio

import pytest
import redis
from faust.exceptions import ProducerSendError

from processors.transport.pending import Pending, resolve


async def test_a_fenced_append_fails_its_message_saying_fenced() -> None:
    """redis-py's repr of a server error is ``server:ResponseError``: a worker stopped by a
    fenced changelog append logged no reason (a paused worker's log said neither FENCED
    nor lease)."""
    future = asyncio.get_running_loop().create_future()
    item = Pending("t", 3, "mh:{p3}:t", b"k", b"v", 0, None, future)
    refused = redis.ResponseError("FENCED partition lease not held by worker-a")
    resolve([item], [refused])
    with pytest.raises(ProducerSendError, match="FENCED partition lease not held by worker-a"):
        await future
