"""Commands and tools fail in time, and say why, when a Redis Cluster node stops answering.

``mindhit lag`` (like ``replay``, ``recover`` and the projector's commands) talks to Redis
through :func:`mindhit.redis_client.connect_redis`, whose cluster client gives up on a
call after :data:`~mindhit.redis_cluster.CALL_TIMEOUT_S`: with a master frozen
(``SIGSTOP``: it keeps its connections and never replies) the command ends within that
bound with one line naming Redis, not a traceback. The blocking client of
:func:`~mindhit.redis_client.connect_redis_sync` (tests and tools) fails at twice the
socket timeout, where redis-py 8.1 tried a command 11 times (``GET`` 55 s, a pipeline 70 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis
from redis.crc import key_slot

from mindhit.redis_client import connect_redis_sync
from mindhit.redis_cluster import CALL_TIMEOUT_S
from mindhit.settings import Settings
from tests.support.processes import run_mindhit
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOCKET_TIMEOUT_S = 5.0
"""redis-py's default ``socket_timeout``, which nothing here changes."""


def _key_on(cluster: PrivateRedisCluster, port: int, prefix: str) -> str:
    keys = (f"{prefix}:{{p{n}}}" for n in range(64))
    return next(k for k in keys if cluster.owner(key_slot(k.encode())) == port)


def _both(client: redis.Redis, *keys: str) -> list[Any]:
    """``GET`` of each key in one pipeline (over two masters here)."""
    pipe = client.pipeline()
    for key in keys:
        pipe.get(key)
    return list(pipe.execute())


def test_mindhit_lag_with_a_frozen_master_ends_in_time_with_one_line_naming_redis(
    own_cluster: Callable[..., PrivateRedisCluster], settings: Settings
) -> None:
    cluster = own_cluster(node_timeout_ms=60_000)  # frozen ~15 s: no failover
    mine = msgspec.structs.replace(settings, redis_url=cluster.url)
    started = time.monotonic()
    healthy = run_mindhit(mine, "lag", "--json")
    assert healthy.returncode == 0, healthy.stderr
    # Starting Python and the command, and the calls that answer: measured, as it swings
    # with the machine's load, and added to the bound.
    overhead = time.monotonic() - started
    started = time.monotonic()
    with cluster.frozen(cluster.ports[1]):
        frozen = run_mindhit(mine, "lag", "--json", timeout=90)
    took = time.monotonic() - started
    assert frozen.returncode == 1
    assert "Traceback" not in frozen.stderr
    (line,) = frozen.stderr.strip().splitlines()
    # The call's bound (12 s), or the frozen node named at the socket timeout (5 s) where
    # a pipeline reads each reply as it comes (the highwaters).
    reason = line.removeprefix("mindhit: Redis could not be reached: ")
    assert reason != line and ("within 12 s" in reason or "Timeout reading from" in reason), line
    # It once took 17.8 and 22.6 s: the highwaters' pipeline took a node's timeout for a
    # partition never appended to (highwater 0) and the command went on to the next call.
    # Apart from that: a new cluster client learns the slots from the first seed that
    # answers, so a frozen one costs a socket timeout before the next is asked (measured
    # 2026-12-07: HGETALL answered after 5.03 s, then SMEMBERS took its 12 s: 17.5 s in
    # all; twice, 22.4 s). The bound is the call's, plus two such timeouts.
    assert took < CALL_TIMEOUT_S + 2 * SOCKET_TIMEOUT_S + overhead + 3, (took, overhead)


def test_the_blocking_client_gives_up_on_a_frozen_master_in_a_few_socket_timeouts(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=60_000)
    there = _key_on(cluster, cluster.ports[1], "sync")
    elsewhere = _key_on(cluster, cluster.ports[2], "sync")
    client = connect_redis_sync(cluster.url)
    try:
        client.set(there, b"1")
        client.set(elsewhere, b"1")
        with cluster.frozen(cluster.ports[1]):
            # a GET: two tries at the socket timeout (redis-py's topology refresh after a
            # failure asks the failed node last). A pipeline connects to the frozen node
            # anew on each try (the GET's failure dropped its connections), and the refresh
            # after a failed connect asks the nodes in random order, the frozen one maybe
            # first: up to four socket timeouts (15.0 s seen once), against 70 s before.
            for call, timeouts in (
                (lambda: client.get(there), 2),
                (lambda: _both(client, elsewhere, there), 4),
            ):
                began = time.monotonic()
                with pytest.raises(redis.TimeoutError):
                    call()
                assert time.monotonic() - began < timeouts * SOCKET_TIMEOUT_S + 1.5
        assert client.get(there) == b"1"
        assert _both(client, elsewhere, there) == [b"1", b"1"]
    finally:
        client.close()
