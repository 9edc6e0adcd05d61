"""Sessions the server stopped, noted so a client still recording them hears of it.

A session ends on the server side when its user stops it from the dashboard (or the
API), and when it had no event for ``MINDHIT_SESSION_IDLE_CLOSE_S`` (the projector's
housekeeping: a laptop closed for the night). The extension that recorded it does not
know: it kept stamping its events with the session, and the processors ignore every
event recorded after a stop (:mod:`processors.dwell`), so everything it recorded from
then on was lost without a word.

Every server-side stop (:func:`mindhit.session_log.stop_session`) now leaves a note,
``<prefix>:session-stop:<user_id>:<session_id>`` (one small key per session, any slot),
for as long as the processors keep a user's fold state (:data:`STOP_NOTE_IDLE_MULTIPLE`
× ``MINDHIT_SESSION_IDLE_CLOSE_S``, 7 days by default; after that its late events are
refused by that rule anyway). The gateway reads the notes of an upload's sessions in
the round trip that claims them and answers with the stopped ones, which are the
uploader's (``BatchResult.stopped``, and ``BatchResult.stops`` with each stop's reason
and time); the extension then ends the session and says so.

A note holds :class:`StopNote`: who stopped the session (``user``: the dashboard or the
API; ``idle``: the idle close) and as of when. An idle close is dated at the session's
last event, so what an extension recorded after that moment (offline for hours, the
session closed meanwhile for lack of events) was not lost by the user's choice: the
extension records it again in a new session. The key names the user, so an erasure's
sweep of the keys naming them (:mod:`projector.forget`) deletes every note, whether
or not the session's owner key is still alive.

Each stop is also published on :func:`stops_channel` (its session id): a gateway trusts
the sessions it confirmed for a minute without asking Redis (:mod:`ingest.owner_cache`),
and forgets a stopped one when it hears of it (:mod:`ingest.stop_listener`), so the
extension is told at its next upload, not up to a minute later.

Builds before stop notes wrote a bare marker, ``<prefix>:session-stopped:<session_id>``
holding ``1``; the release that brought notes wrote both and read the marker when a note
was missing. This one neither writes nor reads markers (a note written beside every
marker since then says more); an erasure still deletes a leftover one of the user's
sessions (:func:`stopped_key`) until they have all expired.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal

import msgspec
from redis import exceptions as redis_errors

from mindhit.logs import get_logger
from mindhit.settings import Settings

__all__ = [
    "STOP_NOTE_IDLE_MULTIPLE",
    "StopNote",
    "StopReason",
    "note_stopped",
    "read_note",
    "stop_note_key",
    "stop_note_ttl_s",
    "stopped_among",
    "stopped_key",
    "stops_channel",
]

log = get_logger(__name__)

STOP_NOTE_IDLE_MULTIPLE: Final = 84
"""A stop note lives this many session idle closes: the life of a user's fold state
(``processors.state.DWELL_IDLE_MULTIPLE``)."""


StopReason = Literal["user", "idle"]
"""``user``: stopped from the dashboard or the API; ``idle``: closed for lack of events."""


class StopNote(msgspec.Struct, frozen=True, array_like=True):
    """Why and as of when the server stopped a session (a stop note's value)."""

    reason: StopReason
    at: int
    """The stop's time (Unix ms): for an idle close, the session's last event."""


_UNKNOWN: Final = StopNote("user", 0)
"""What a note without a readable value says: a stop of unknown kind and time."""
_decode_note = msgspec.json.Decoder(StopNote).decode


def read_note(value: bytes | str) -> StopNote:
    """A note's value as a :class:`StopNote` (an unreadable one: a user's stop, time 0)."""
    try:
        return _decode_note(value)
    except msgspec.DecodeError:
        return _UNKNOWN


def stop_note_key(prefix: str, user_id: str, session_id: str) -> str:
    """The note that the server stopped ``user_id``'s ``session_id``."""
    return f"{prefix}:session-stop:{user_id}:{session_id}"


def stops_channel(prefix: str) -> str:
    """The pub/sub channel every server-side stop is published on (its session id)."""
    return f"{prefix}:session-stops"


def stopped_key(prefix: str, session_id: str) -> str:
    """The earlier builds' marker that the server stopped ``session_id`` (no longer
    written: an erasure deletes a leftover one until a note's life has passed)."""
    return f"{prefix}:session-stopped:{session_id}"


def stop_note_ttl_s(settings: Settings) -> int:
    """How long a stop note lives (seconds)."""
    return max(1, round(STOP_NOTE_IDLE_MULTIPLE * settings.session_idle_close_s))


async def note_stopped(
    redis: Any, prefix: str, user_id: str, session_id: str, ttl_s: int, note: StopNote
) -> None:
    """Note that the server stopped ``user_id``'s ``session_id`` (call after its stop is
    appended), then tell the gateways (:func:`stops_channel`)."""
    await redis.set(stop_note_key(prefix, user_id, session_id), msgspec.json.encode(note), ex=ttl_s)
    try:  # after the note: a gateway that hears of it reads it at the next upload
        await redis.publish(stops_channel(prefix), session_id)
    except redis_errors.RedisError as exc:  # the stop stands; gateways hear of it within the minute
        log.warning("stop_not_published", session_id=session_id, error=str(exc))


async def stopped_among(
    redis: Any, prefix: str, user_id: str, session_ids: Iterable[str]
) -> dict[str, StopNote]:
    """Which of ``user_id``'s ``session_ids`` the server stopped, with their notes; one
    pipelined round trip (the notes may sit in several cluster slots), none without ids."""
    ids = list(dict.fromkeys(session_ids))
    if not ids:
        return {}
    pipe = redis.pipeline(transaction=False)
    for session_id in ids:
        pipe.get(stop_note_key(prefix, user_id, session_id))
    found = await pipe.execute()
    return {s: read_note(note) for s, note in zip(ids, found, strict=True) if note is not None}
