"""Commands that must share one connection on Redis Cluster, however the slot moves.

A write and the ``WAIT`` that confirms its replication must run on one connection of
the node that ran the write (``WAIT`` counts replicas that acknowledged *that
connection's* writes). redis-py's cluster pipeline does not keep them together once
the slot has moved: it sends ``WAIT`` to the node its slot map names and, when the
write is refused there (``MOVED`` after a resharding, ``ASK`` during one), sends the
write again on its own, to another node; the ``WAIT`` then confirmed nothing and an
append whose replicas never got it was acknowledged. :func:`run_on_slot_node` follows
the redirects for the group as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.exceptions import AskError, MovedError, SlotNotCoveredError, TryAgainError

from mindhit.redis_cluster import CALL_TIMEOUT_S, within

__all__ = ["SLOT_MOVE_WAIT_S", "run_on_slot_node"]

SLOT_MOVE_WAIT_S = 30.0
"""Longest a group waits for its slot to settle (redirects, ``TRYAGAIN``), as
:class:`mindhit.redis_client.ReshardingCluster` does for single commands."""


async def run_on_slot_node(
    cluster: RedisCluster, key: str, commands: Sequence[Sequence[Any]]
) -> list[Any]:
    """Run ``commands`` in order on one connection of the node serving ``key``'s slot.

    The first command decides where the group runs; it must name a key of that slot.
    Steps, until the first command is not refused or ``SLOT_MOVE_WAIT_S`` has passed:

    1. Send the group to the node the slot map names (or, after ``ASK``, to the node
       it names, ``ASKING`` first on the same connection).
    2. ``MOVED``: patch the slot map and send it again. ``ASK``: send it again there.
       ``TRYAGAIN`` (the slot is half moved): pause (10 ms doubling to 200 ms), again.

    Each send (with the slot map's discovery before the first, which may ask a node that
    stopped answering too) fails with ``redis.TimeoutError`` after the client's
    ``call_timeout_s`` (:func:`mindhit.redis_cluster.within`), as any command of
    :class:`mindhit.redis_cluster.ReshardingCluster` does.

    Returns:
        The commands' replies, in order; a command's error is returned as its reply,
        except the first command's, which is raised.
    """
    limit_s = getattr(cluster, "call_timeout_s", CALL_TIMEOUT_S)
    what = f"{commands[0][0]} and the commands sent with it"
    loop = asyncio.get_running_loop()
    sent_by = loop.time() + limit_s
    await within(limit_s, cluster.initialize(), what)  # the slot map (a no-op once known)
    deadline = loop.time() + SLOT_MOVE_WAIT_S
    pause = 0.01
    asking: ClusterNode | None = None
    while True:
        node = asking or cluster.get_node_from_key(key)
        if node is None:
            raise SlotNotCoveredError(f"no node serves the slot of {key!r}")
        group = [PipelineCommand(i, *args) for i, args in enumerate(commands)]
        if asking is not None:
            group.insert(0, PipelineCommand(-1, "ASKING"))
        await within(max(sent_by - loop.time(), 0.001), node.execute_pipeline(group), what)
        replies = [command.result for command in group[1 if asking is not None else 0 :]]
        first, asking = replies[0], None
        if not isinstance(first, AskError | TryAgainError):
            if isinstance(first, Exception):
                raise first
            return replies
        if loop.time() >= deadline:
            raise first
        sent_by = loop.time() + limit_s  # each send after a redirect: a call of its own
        if isinstance(first, MovedError):
            await cluster.nodes_manager.move_slot(first)
            continue
        if isinstance(first, AskError):
            asking = cluster.get_node(host=first.host, port=first.port)
        if asking is None:  # TRYAGAIN, or ASK to a node the client does not know yet
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
