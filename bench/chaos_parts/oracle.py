"""The chaos soak's oracle: the ground truth from acknowledged events, compared with PostgreSQL.

The truth is the processors' own pure fold (:func:`processors.dwell.fold`) over
exactly the events the gateway acknowledged, per user in the order the log holds
them (:attr:`bench.chaos_parts.users.SimUser.acked`): its ``visit.closed`` and
``session.closed`` events are what the read tables must show, whatever crashed
meanwhile. One thing only the log can tell: a server-side stop whose first attempt
got no answer may have been stored then (the fold keeps the first stop, the
acknowledged retry is late). The stop the archive holds for that session is taken
when its time lies inside one of the unanswered attempts' windows.

:func:`read_stored` reads ``page_visits``, ``sessions`` and ``mindmap_graphs``,
:func:`read_archive` the raw archive (``event_log``); the pure :func:`compare` counts
what differs from the truth, and :class:`Findings` describes every case so a
failure names the visits, sessions and events involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from bench.chaos_parts.users import ServerStop
from processors.dwell import fold
from schema.derived import SessionClosed, VisitClosed
from schema.events import ClientEvent, SessionStopped
from schema.log import decode_raw_entry
from schema.topics import RAW_TOPIC, partition_for

__all__ = [
    "Archive",
    "Findings",
    "Recorded",
    "Stored",
    "Truth",
    "compare",
    "ground_truth",
    "read_archive",
    "read_stored",
]


class Recorded(Protocol):
    """A user as the oracle sees them (:class:`bench.chaos_parts.users.SimUser`)."""

    user_id: str
    acked: list[ClientEvent]
    stops: list[ServerStop]


@dataclass
class Archive:
    """What the raw archive holds of the soak's users: event keys and server stop times."""

    keys: set[tuple[str, int]] = field(default_factory=set)
    server_stops: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Truth:
    """Visits and closed sessions the acknowledged events imply, and the events themselves."""

    visits: dict[str, VisitClosed]
    sessions: dict[str, SessionClosed]
    acked: set[tuple[str, int]]
    users: set[str]


@dataclass
class Findings:
    """The loss figures and every case behind them."""

    counts: dict[str, int]
    examples: dict[str, list[str]]

    @property
    def clean(self) -> bool:
        """Whether nothing was lost, duplicated or wrong."""
        return not any(self.counts.values())


async def read_archive(conn: Any, users: set[str]) -> Archive:
    """Every raw event of ``users`` in ``event_log`` (keys) and the server stops among them."""
    found = Archive()
    cur = await conn.execute(
        "SELECT value FROM event_log WHERE topic = %s AND user_id = ANY(%s::uuid[])",
        (RAW_TOPIC, list(users)),
    )
    async for (value,) in cur:
        for upload in decode_raw_entry(bytes(value)).uploads:
            for event in upload.events:
                found.keys.add((event.client_id, event.seq))
                if isinstance(event, SessionStopped) and event.client_id.startswith("server:"):
                    found.server_stops.setdefault(event.session_id, []).append(event.ts)
    return found


def _resolved(user: Recorded, archive: Archive) -> list[ClientEvent]:
    """The user's acknowledged events with each server stop as the log holds it."""
    earlier: dict[str, int] = {}
    for stop in user.stops:
        stored = archive.server_stops.get(stop.session_id, [])
        inside = [ts for ts in stored if any(lo <= ts <= hi for lo, hi in stop.unanswered)]
        if inside and min(inside) < stop.stopped_at:
            earlier[stop.session_id] = min(inside)
    if not earlier:
        return user.acked
    return [
        msgspec.structs.replace(e, ts=earlier[e.session_id])
        if isinstance(e, SessionStopped)
        and e.client_id.startswith("server:")
        and e.session_id in earlier
        else e
        for e in user.acked
    ]


def ground_truth(users: Iterable[Recorded], archive: Archive) -> Truth:
    """Fold every user's acknowledged events with the processors' fold."""
    truth = Truth(visits={}, sessions={}, acked=set(), users=set())
    for user in users:
        truth.users.add(user.user_id)
        truth.acked.update(
            (e.client_id, e.seq) for e in user.acked if not e.client_id.startswith("server:")
        )
        _, result = fold(None, user.user_id, _resolved(user, archive))
        for derived in result.derived:
            if isinstance(derived, VisitClosed):
                truth.visits[derived.visit_id] = derived
            elif isinstance(derived, SessionClosed):
                truth.sessions[derived.session_id] = derived
    return truth


_VISITS = """
SELECT visit_id::text, session_id::text, user_id::text, dwell_ms,
       round(extract(epoch FROM start_at) * 1000)::bigint,
       round(extract(epoch FROM end_at) * 1000)::bigint, url
FROM page_visits WHERE user_id = ANY(%s::uuid[])
"""
_SESSIONS = """
SELECT session_id::text, status, active_ms, page_count,
       round(extract(epoch FROM stopped_at) * 1000)::bigint
FROM sessions WHERE user_id = ANY(%s::uuid[])
"""
_MAPS = "SELECT session_id::text FROM mindmap_graphs WHERE user_id = ANY(%s::uuid[])"


async def _rows(conn: Any, sql: str, users: list[str]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, (users,))
    return list(await cur.fetchall())


@dataclass
class Stored:
    """What the read tables hold of the soak's users, by visit and session id.

    ``visits`` rows: ``(visit_id, session_id, user_id, dwell_ms, start_ms, end_ms, url)``;
    ``sessions`` rows: ``(session_id, status, active_ms, page_count, stopped_ms)``.
    """

    visits: dict[str, tuple[Any, ...]]
    sessions: dict[str, tuple[Any, ...]]
    maps: set[str]


async def read_stored(conn: Any, users: set[str]) -> Stored:
    """Read ``page_visits``, ``sessions`` and ``mindmap_graphs`` rows of ``users``."""
    ids = sorted(users)
    return Stored(
        visits={r[0]: r for r in await _rows(conn, _VISITS, ids)},
        sessions={r[0]: r for r in await _rows(conn, _SESSIONS, ids)},
        maps={r[0] for r in await _rows(conn, _MAPS, ids)},
    )


def compare(truth: Truth, stored: Stored, archive: Archive, partitions: int) -> Findings:
    """Count every difference between the read tables and the truth (each case described)."""
    visits, sessions, maps = stored.visits, stored.sessions, stored.maps
    found: dict[str, list[str]] = {
        "missing_events": [f"{c} seq {s}" for c, s in sorted(truth.acked - archive.keys)],
        "lost_visits": [],
        "duplicate_visits": [],
        "dwell_mismatches": [],
        "session_mismatches": [],
        "sessions_without_map": [],
    }
    for vid, want in truth.visits.items():
        row = visits.get(vid)
        if row is None:
            found["lost_visits"].append(
                f"{vid} user {want.user_id} (partition {partition_for(want.user_id, partitions)}) "
                f"session {want.session_id} {want.url} "
                f"{want.start_ts}+{want.dwell_ms}ms ({want.end_reason})"
            )
        elif (row[1], row[3], row[4], row[5]) != (
            want.session_id, want.dwell_ms, want.start_ts, want.end_ts
        ):  # fmt: skip
            found["dwell_mismatches"].append(
                f"{vid}: stored {row[4]}+{row[3]}ms, truth {want.start_ts}+{want.dwell_ms}ms"
            )
    for vid, row in visits.items():
        if vid not in truth.visits:
            found["duplicate_visits"].append(f"{vid} session {row[1]} {row[6]} {row[4]}+{row[3]}ms")
    for sid, closed in truth.sessions.items():
        srow = sessions.get(sid)
        want_row = ("completed", closed.active_ms, closed.page_count, closed.stopped_ts)
        if srow is None or tuple(srow[1:]) != want_row:
            found["session_mismatches"].append(
                f"{sid}: stored {srow and srow[1:]}, truth {want_row}"
            )
        if sid not in maps:
            found["sessions_without_map"].append(f"{sid} user {closed.user_id}")
    return Findings(
        counts={k: len(v) for k, v in found.items()},
        examples={k: v for k, v in found.items() if v},
    )
