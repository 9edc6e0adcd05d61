"""Starting and stopping sessions from the server side (gateway API and dashboard).

Both the gateway (``POST /v1/sessions``) and the dashboard start and stop
sessions, and services never import each other, so the one implementation lives
in the kernel. A server-originated event needs an envelope like any client's:

* ``client_id`` is ``"server:<user_id>"``: one pseudo-install per user, so
  ``(client_id, seq)`` stays unique and dedupes exactly like a real client's;
* ``seq`` comes from a per-user counter kept in the user's partition
  slot, so it is strictly increasing across gateway and dashboard processes; it
  starts from the clock, so a counter Redis lost does not start again below it;
* each start/stop is its own upload with a fresh ``batch_id``, appended through
  :func:`mindhit.upload_log.append_uploads` (atomic, dense offsets; the batch is
  recorded in the pseudo-client's idempotency state like any client's).

Session ownership is one key per session (:mod:`mindhit.session_owners`), claimed
here before a new session's ``session.started`` is appended, and by the gateway on
the first event of a session an extension started. A user may only stop a session
whose key names them (or, for a session recorded before the keys, whose
``sessions`` row does: the caller hands that lookup in); anything else is
:class:`SessionNotFoundError` (HTTP 404).
"""

from __future__ import annotations

from importlib import resources

import redis.asyncio as aioredis

from mindhit.clock import Clock, system_clock
from mindhit.session_owners import LegacyOwners, claim_sessions, owners_of
from mindhit.session_stops import StopNote, StopReason, note_stopped, stop_note_ttl_s
from mindhit.settings import Settings
from mindhit.upload_log import ANY_EPOCH, AppendPolicy, RawPartition, UploadId, append_uploads
from schema.api import SessionCreated
from schema.events import ClientEvent, SessionStarted, SessionStopped
from schema.ids import uuid7
from schema.log import RawEntry, Upload, encode_raw_entry
from schema.nul import NUL_REASON
from schema.topics import partition_for, partition_tag

__all__ = [
    "MAX_LABEL_LENGTH",
    "SessionNotFoundError",
    "server_client_id",
    "session_owner",
    "start_session",
    "stop_session",
]

MAX_LABEL_LENGTH = 200


class SessionNotFoundError(LookupError):
    """No session with that id belongs to the user (unknown, or someone else's)."""


def server_client_id(user_id: str) -> str:
    """The ``client_id`` of events the server writes on ``user_id``'s behalf."""
    return f"server:{user_id}"


_NEXT_SEQ_LUA = resources.files("mindhit.lua").joinpath("next_seq.lua").read_text()


def _seq_key(settings: Settings, partition: int, user_id: str) -> str:
    return f"{settings.key_prefix}:{partition_tag(partition)}:seq:{server_client_id(user_id)}"


async def _next_seq(redis: aioredis.Redis, key: str, now_ms: int) -> int:
    """The user's next server ``seq``: one more than the last, starting from the clock.

    A counter Redis lost (restart without persistence) starts again from the clock, not
    from 1: the processors drop an event at or below a client's highest seq, so a
    restarted counter would make every later session start and stop a "duplicate".
    """
    # a script, not MULTI: redis-py's cluster client ran this MULTI through a transaction
    # strategy that failed ("Future attached to a different loop") in the cluster suite
    seq = await redis.eval(_NEXT_SEQ_LUA, 1, key, now_ms)  # type: ignore[misc]
    return int(seq)


async def _append_server_event(
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    event: ClientEvent,
    *,
    now_ms: int,
) -> None:
    partition = partition_for(user_id, settings.partitions)
    upload = Upload(
        batch_id=uuid7(now_ms),
        user_id=user_id,
        client_id=event.client_id,
        received_at=now_ms,
        events=[event],
    )
    await append_uploads(
        redis,
        RawPartition.of(settings.key_prefix, partition),
        encode_raw_entry(RawEntry(uploads=[upload])),
        epoch=ANY_EPOCH,  # creates a missing epoch; consumers see it differ from theirs
        uploads=[UploadId(user_id, upload.client_id, upload.batch_id)],
        timestamp_ms=now_ms,
        policy=AppendPolicy.of(settings),
    )


async def start_session(
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    label: str = "",
    *,
    clock: Clock = system_clock,
) -> SessionCreated:
    """Start a session for ``user_id``: append ``session.started`` and record ownership.

    Steps: take the next server ``seq`` for the user (:func:`_next_seq`); claim the
    new session id; append the event; return the new id and start time.

    Raises:
        ValueError: ``label`` is longer than :data:`MAX_LABEL_LENGTH`, or holds a NUL
            (:mod:`schema.nul`).
    """
    if len(label) > MAX_LABEL_LENGTH:
        raise ValueError(f"a session label has at most {MAX_LABEL_LENGTH} characters")
    if "\x00" in label:
        raise ValueError(f"a session label {NUL_REASON}")
    now_ms = clock()
    partition = partition_for(user_id, settings.partitions)
    seq = await _next_seq(redis, _seq_key(settings, partition, user_id), now_ms)
    session_id = uuid7(now_ms)
    event = SessionStarted(
        event_id=uuid7(now_ms),
        client_id=server_client_id(user_id),
        session_id=session_id,
        seq=seq,
        ts=now_ms,
        label=label,
    )
    await claim_sessions(redis, settings.key_prefix, user_id, [session_id])
    await _append_server_event(redis, settings, user_id, event, now_ms=now_ms)
    return SessionCreated(session_id=session_id, started_at=now_ms)


async def session_owner(
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    session_id: str,
    *,
    legacy: LegacyOwners | None = None,
) -> bool:
    """Whether ``session_id`` is one of ``user_id``'s sessions (its key, else ``legacy``)."""
    owners = await owners_of(redis, settings.key_prefix, [session_id])
    if session_id not in owners and legacy is not None:
        owners = dict(await legacy([session_id]))
    return owners.get(session_id) == user_id


async def stop_session(
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    session_id: str,
    *,
    clock: Clock = system_clock,
    legacy: LegacyOwners | None = None,
    reason: StopReason = "user",
) -> int:
    """Stop one of ``user_id``'s sessions: append ``session.stopped``; return its time (ms).

    Steps: check ownership (:func:`session_owner`); take the next server
    ``seq``; append the event; note the stop (:mod:`mindhit.session_stops`: the client
    still recording the session hears of it in its next upload's answer). Stopping an
    already stopped session appends another ``session.stopped``, which consumers treat
    as a no-op.

    Raises:
        SessionNotFoundError: the session is unknown or belongs to someone else.
    """
    if not await session_owner(redis, settings, user_id, session_id, legacy=legacy):
        raise SessionNotFoundError(session_id)
    now_ms = clock()
    partition = partition_for(user_id, settings.partitions)
    seq = await _next_seq(redis, _seq_key(settings, partition, user_id), now_ms)
    event = SessionStopped(
        event_id=uuid7(now_ms),
        client_id=server_client_id(user_id),
        session_id=session_id,
        seq=seq,
        ts=now_ms,
    )
    await _append_server_event(redis, settings, user_id, event, now_ms=now_ms)
    note = StopNote(reason, now_ms)
    ttl_s = stop_note_ttl_s(settings)
    await note_stopped(redis, settings.key_prefix, user_id, session_id, ttl_s, note)
    return now_ms
