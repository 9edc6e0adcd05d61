"""What the dwell fold keeps per user, and what one fold call gives back besides it.

Plain data (msgspec Structs): the fold in :mod:`processors.dwell` reads a
:class:`UserState` and returns a new one; the state store keeps it as msgpack.
New fields get defaults, so a state saved by an older build still decodes.
"""

from __future__ import annotations

import msgspec

from schema.derived import DerivedBase

__all__ = [
    "NO_WINDOW",
    "UNKNOWN_WINDOW",
    "ClientState",
    "FoldResult",
    "Gap",
    "OpenVisit",
    "PageTotal",
    "SessionState",
    "Tab",
    "UserState",
    "copy_state",
    "decode_state",
    "encode_state",
]

UNKNOWN_WINDOW = -2
"""``focused_window`` before any focus event: the first activated tab's window is taken."""
NO_WINDOW = -1


class Tab(msgspec.Struct, array_like=True, gc=False):
    """What the fold remembers of one browser tab."""

    window_id: int
    url: str
    title: str = ""
    audible: bool = False
    content_url: str = ""
    content_hash: str = ""


class OpenVisit(msgspec.Struct, array_like=True, gc=False):
    """The visit currently open on a client."""

    opened_seq: int
    tab_id: int
    url: str
    title: str
    start_ts: int
    content_hash: str = ""


class ClientState(msgspec.Struct, kw_only=True):
    """One extension install: its browser state as the fold knows it.

    ``idle_from`` is the pending idle start under an idle threshold (the client's
    event time from which the user counts as idle), or -1 when none is pending; while
    one is pending the user is not idle yet (``idle`` is false).
    """

    session_id: str = ""
    last_seq: int = -1
    last_ts: int = 0
    focused_window: int = UNKNOWN_WINDOW
    idle: bool = False
    tabs: dict[int, Tab] = {}
    active: dict[int, int] = {}
    visit: OpenVisit | None = None
    idle_from: int = -1


class PageTotal(msgspec.Struct, array_like=True, gc=False):
    """Dwell of one distinct page within a session so far."""

    url: str
    title: str
    domain: str
    dwell_ms: int
    content_hash: str = ""


class SessionState(msgspec.Struct, kw_only=True):
    """An active (not yet stopped) session of the user."""

    started_ts: int
    last_end_ts: int = 0
    active_ms: int = 0
    pages: dict[str, PageTotal] = {}


class UserState(msgspec.Struct, kw_only=True):
    """Everything the fold keeps for one user (all their clients and open sessions)."""

    clients: dict[str, ClientState] = {}
    sessions: dict[str, SessionState] = {}
    stopped: list[str] = []

    def is_idle(self) -> bool:
        """Whether nothing of this user is open (no session), so it can leave memory."""
        return not self.sessions


class Gap(msgspec.Struct, frozen=True):
    """Events missing from a client's sequence: ``expected`` came as ``got``."""

    client_id: str
    expected: int
    got: int


class FoldResult(msgspec.Struct):
    """What one fold call produced besides the state."""

    derived: list[DerivedBase]
    gaps: list[Gap]
    duplicates: int = 0
    late: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(UserState)


def encode_state(state: UserState) -> bytes:
    """Serialize a user's state (for the state store)."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> UserState:
    """Deserialize a user's state."""
    return _decoder.decode(data)


def copy_state(state: UserState) -> UserState:
    """A deep copy of ``state`` that shares nothing with it (the fold works on one)."""
    return _decoder.decode(_encoder.encode(state))
