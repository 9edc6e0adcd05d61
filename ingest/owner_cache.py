"""Sessions the gateway has just seen owned by their uploader: no Redis round trip for them.

A client uploads one session's events every few seconds, and every upload used to
read the session's owner key before its append (one Redis round trip, ~30% of the
gateway's CPU per small upload at 1,000 clients). An id never changes owner
(:mod:`mindhit.session_owners`), so an answer "``session`` is ``user``'s" stays
true; the gateway remembers it for a short while and lets that user's later events
of the session through without asking again.

Only *own* sessions are remembered: an event of a session owned by someone else
(an attack, or a client bug) is always asked of Redis, which rebuilds an expired
key from PostgreSQL as before. So the cache can only spare a user the round trip
for their own sessions, never let anyone into another's. The entries live
``ttl_s`` (well under the owner key's settled lifetime: a session whose key
expired is asked again, and its key rebuilt, soon after) and at most
``max_entries`` are kept (oldest forgotten first). A session stopped elsewhere (the
dashboard, the housekeeping) is forgotten at once by :mod:`ingest.stop_listener`, so its
stop reaches the next upload's answer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

__all__ = ["OwnSessions"]


class OwnSessions:
    """Remembers ``session_id → user_id`` pairs confirmed by Redis, for ``ttl_s`` seconds.

    Args:
        ttl_s: how long a confirmed owner is trusted without asking Redis again.
        max_entries: bound on remembered sessions (the oldest are forgotten first).
        timer: monotonic seconds (injected for tests).
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_entries: int = 100_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._timer = timer
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def unknown(self, user_id: str, session_ids: Iterable[str]) -> list[str]:
        """The distinct ``session_ids`` not remembered as ``user_id``'s (to ask Redis)."""
        now = self._timer()
        missing: list[str] = []
        for session_id in dict.fromkeys(session_ids):
            entry = self._entries.get(session_id)
            if entry is None or entry[0] != user_id or entry[1] <= now:
                missing.append(session_id)
        return missing

    def forget(self, session_id: str) -> None:
        """Ask Redis about ``session_id`` again next time (e.g. it was just stopped)."""
        self._entries.pop(session_id, None)

    def clear(self) -> None:
        """Ask Redis again about every session (stops may have gone unheard)."""
        self._entries.clear()

    def remember(self, user_id: str, owners: Mapping[str, str]) -> None:
        """Remember the sessions ``owners`` (confirmed by Redis) gives to ``user_id``."""
        expires = self._timer() + self._ttl_s
        for session_id, owner in owners.items():
            if owner != user_id:
                continue  # someone else's: always asked again
            self._entries[session_id] = (owner, expires)
            self._entries.move_to_end(session_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
