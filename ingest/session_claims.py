"""Every event's session must be the uploader's: claim new sessions, refuse others'.

Each event carries a ``session_id``. Before anything is appended, the gateway
claims the batch's sessions in one pipelined round trip
(:func:`mindhit.session_owners.claim_sessions`): a session nobody owns yet becomes
the uploader's, one whose key has expired (or that was recorded before the keys
existed) keeps its owner from PostgreSQL (``sessions.user_id``, or the tombstone of a
deleted session), and an event of a session owned by someone else
is refused on its own (``field`` ``session_id``) while the rest of the batch goes on.
A refused event is quarantined without its content (it is someone's attack, not a
client bug worth keeping bytes for).

Sessions the gateway has confirmed as the uploader's within the last minute
(:class:`ingest.owner_cache.OwnSessions`) are not asked again: an upload of a
session in progress costs no claim round trip. The claim also reads whether the server
stopped the sessions (:mod:`mindhit.session_stops`): the answer lists the uploader's
stopped ones (with each stop's reason and time), so their extension ends them instead
of recording on in vain, and records again in a new session what it recorded after an
idle close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec
import psycopg_pool

from ingest.owner_cache import OwnSessions
from ingest.validation import ParsedBatch, RejectedEvent
from mindhit.session_owners import (
    DEFAULT_SETTLED_TTL_S,
    LegacyOwners,
    claim_sessions,
    recorded_owners,
)
from mindhit.session_stops import stopped_among
from schema.api import Rejection, SessionStop

__all__ = ["FOREIGN_SESSION_REASON", "legacy_owners", "refuse_foreign_sessions", "split_foreign"]

FOREIGN_SESSION_REASON: Final = "this session belongs to another user; its events are refused"


def legacy_owners(pool: psycopg_pool.AsyncConnectionPool[Any]) -> LegacyOwners:
    """Owners of sessions recorded before the ownership keys, from the read table."""

    async def lookup(session_ids: Sequence[str]) -> Mapping[str, str]:
        async with pool.connection() as conn:
            return await recorded_owners(conn, session_ids)

    return lookup


def split_foreign(parsed: ParsedBatch, foreign: set[str]) -> ParsedBatch:
    """``parsed`` with the events of ``foreign`` sessions moved to its rejected ones.

    Pure. The valid events keep the batch's order, so their positions in the upload
    are the positions not already rejected.
    """
    if not foreign:
        return parsed
    taken = {item.rejection.index for item in parsed.rejected}
    positions = [i for i in range(parsed.total) if i not in taken]
    kept = []
    rejected = list(parsed.rejected)
    for index, event in zip(positions, parsed.events, strict=True):
        if event.session_id in foreign:
            rejection = Rejection(index=index, field="session_id", reason=FOREIGN_SESSION_REASON)
            rejected.append(RejectedEvent(rejection=rejection, raw=None))
        else:
            kept.append(event)
    rejected.sort(key=lambda item: item.rejection.index)
    return msgspec.structs.replace(parsed, events=kept, rejected=rejected)


async def refuse_foreign_sessions(
    redis: Any,
    prefix: str,
    user_id: str,
    parsed: ParsedBatch,
    legacy: LegacyOwners | None,
    settled_ttl: int = DEFAULT_SETTLED_TTL_S,
    known: OwnSessions | None = None,
) -> tuple[ParsedBatch, list[SessionStop]]:
    """Claim the batch's sessions for ``user_id``; refuse the events of others' sessions.

    A session whose owner key has expired is found in PostgreSQL (``legacy``) and keeps
    its owner (its key comes back for ``settled_ttl`` seconds). Sessions ``known`` to be
    ``user_id``'s are not asked again; those Redis confirms as theirs are added to it,
    but for the ones the server stopped (:mod:`mindhit.session_stops`, read alongside
    the claim), which are returned (``user_id``'s own only, by session id) and asked
    again next time.
    """
    if not parsed.events:
        return parsed, []
    sessions = (e.session_id for e in parsed.events)
    asked = known.unknown(user_id, sessions) if known is not None else list(sessions)
    if not asked:
        return parsed, []
    owners, stopped = await asyncio.gather(
        claim_sessions(redis, prefix, user_id, asked, legacy=legacy, settled_ttl=settled_ttl),
        stopped_among(redis, prefix, user_id, asked),
    )
    if known is not None:
        known.remember(user_id, {s: owner for s, owner in owners.items() if s not in stopped})
    foreign = {s for s, owner in owners.items() if owner != user_id}
    stops = [
        SessionStop(session_id=s, reason=note.reason, stopped_at=note.at)
        for s, note in sorted(stopped.items())
        if s not in foreign
    ]
    return split_foreign(parsed, foreign), stops
