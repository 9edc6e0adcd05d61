"""Fencing tokens of the projector's partitions (PostgreSQL adapter).

A projector replica folds a partition only while it holds the partition's lease in
Redis (:mod:`projector.group`), but a lease alone cannot stop a replica that was
paused past it from finishing a PostgreSQL commit it had started. So, after taking a
lease and before reading the partition's checkpoints, the replica *claims* the
partition here: the partition's token (``partition_fences``) goes up by one and is
the replica's. Every commit of a fold or an archive batch checks, in its own
transaction, that the tokens of the partitions it advances are still the ones it
claimed (:func:`check`, rows share-locked, so a claim waits for a commit in flight
and a commit after the claim sees the new token). A replica that lost a partition
therefore can never commit for it once the new owner has claimed it, and the new
owner reads the checkpoints only after its claim, so nothing is folded twice.

A claim that waits on the share locks of the previous holder's commit in flight waits
only so long (``wait_s``): a holder whose lease expired mid-transaction (paused, cut
off) would otherwise hold the rows, and with them the partition, until it resumes.
The claim then ends that holder's open transactions (its connections carry its member
id as ``application_name``, :func:`connection_name`) and claims again; the holder's
commit is rolled back, so the new owner folds that batch from the checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from mindhit.db import sql_file
from mindhit.logs import get_logger

__all__ = ["Fenced", "Tokens", "check", "claim", "connection_name"]

Tokens = Mapping[int, int]
"""Partition → fencing token this replica claimed."""

_CLAIM = sql_file("projector", "fences_claim")
_CHECK = sql_file("projector", "fences_check")
_LOCKED = sql_file("projector", "fences_locked")
_END_STALE = sql_file("projector", "fences_end_stale")

log = get_logger(__name__)

NAME_MAX = 63
"""PostgreSQL keeps this many bytes of an ``application_name``."""


def connection_name(member: str) -> str:
    """The ``application_name`` of a replica's connections: its member id, as stored.

    A claim waiting on a stale holder finds the holder's connections by it.
    """
    return member.encode()[:NAME_MAX].decode(errors="ignore")


class Fenced(RuntimeError):
    """Another replica claimed a partition since this one did: it must stop folding it.

    Attributes:
        partitions: the partitions whose token moved.
    """

    def __init__(self, partitions: Iterable[int], detail: str) -> None:
        self.partitions = frozenset(partitions)
        super().__init__(detail)


def claim(
    conn: psycopg.Connection[Any],
    partitions: Iterable[int],
    holder: str,
    *,
    wait_s: float = 5.0,
) -> dict[int, int]:
    """Bump the tokens of ``partitions`` for ``holder`` and commit; return the new tokens.

    Waits at most ``wait_s`` at a time for a commit in flight of the previous holder;
    after that, ends the open transactions of the previous holders of the partitions
    whose fence rows are still locked (not those of the others) and claims again.
    """
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    args = {"partitions": wanted, "holder": connection_name(holder)}
    wait_ms = max(1, round(wait_s * 1000))
    while True:
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{wait_ms}ms",))
                rows = conn.execute(_CLAIM, args).fetchall()
            return {int(p): int(t) for p, t in rows}
        except psycopg.errors.LockNotAvailable:
            free = {int(p) for (p,) in conn.execute(_LOCKED, args).fetchall()}
            conn.rollback()
            stuck = [p for p in wanted if p not in free]
            stale = {"partitions": stuck, "holder": args["holder"]}
            ended = [int(pid) for (pid,) in conn.execute(_END_STALE, stale).fetchall()]
            conn.commit()
            log.warning("partition_claim_waited", partitions=stuck, ended_backends=ended)


def check(conn: psycopg.Connection[Any], tokens: Tokens) -> None:
    """Inside the caller's transaction: the partitions still carry ``tokens`` (rows locked).

    Raises:
        Fenced: a partition's token is another (a newer claim) or missing.
    """
    if not tokens:
        return
    stored = {int(p): int(t) for p, t in conn.execute(_CHECK, (sorted(tokens),)).fetchall()}
    moved = sorted(p for p, token in tokens.items() if stored.get(p) != token)
    if moved:
        raise Fenced(
            moved,
            f"partitions {moved} were claimed by another replica"
            f" (tokens {[stored.get(p) for p in moved]}, ours {[tokens[p] for p in moved]})",
        )
