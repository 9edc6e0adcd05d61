"""Client events: what the extension records, one Struct per transition type.

Every event shares the envelope defined by :class:`EventBase`. The tag field
``type`` selects the concrete Struct, so ``msgspec`` decodes a whole batch into
the right classes in one pass. ``user_id`` is deliberately absent: the gateway
derives it from the device token and stores it beside the events (see
:mod:`schema.log`), so a client can never write as someone else.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import msgspec

__all__ = [
    "CLIENT_EVENT_TYPES",
    "SCHEMA_VERSION",
    "ClientEvent",
    "EventBase",
    "IdleState",
    "MediaState",
    "PageContent",
    "SessionStarted",
    "SessionStopped",
    "TabActivated",
    "TabRemoved",
    "TabUpdated",
    "WindowFocus",
    "text_hash",
    "text_matches",
]

SCHEMA_VERSION = 1

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Uuid = Annotated[str, msgspec.Meta(pattern=UUID_PATTERN, description="lower-case UUID")]
ClientId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern="^[A-Za-z0-9._:-]+$",
        description="one extension install",
    ),
]
INT64_MAX = 2**63 - 1  # the log is msgpack: integers beyond int64 cannot be stored
Seq = Annotated[
    int, msgspec.Meta(ge=0, le=INT64_MAX, description="per-client, strictly increasing")
]
TimestampMs = Annotated[
    int, msgspec.Meta(ge=0, le=253_402_300_799_999, description="Unix time in milliseconds")
]
TabId = Annotated[int, msgspec.Meta(ge=-1, le=INT64_MAX)]
WindowId = Annotated[
    int, msgspec.Meta(ge=-1, le=INT64_MAX, description="-1: no window (browser lost focus)")
]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
Title = Annotated[str, msgspec.Meta(max_length=2048)]
ContentHash = Annotated[
    str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="hex SHA-256 of the extracted text")
]
PageText = Annotated[str, msgspec.Meta(max_length=262_144)]


class EventBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope every client event carries.

    Attributes:
        event_id: UUIDv7 made on the client; unique per event.
        client_id: the extension install that recorded the event.
        session_id: the browsing session the event belongs to.
        seq: per-client sequence number, strictly increasing; (client_id, seq) dedupes.
        ts: client clock at the transition, Unix milliseconds (the event time).
        v: schema version of the envelope.
        incognito: set by a client that observed the event in a private window;
            the gateway refuses such events, they never reach the log.
    """

    event_id: Uuid
    client_id: ClientId
    session_id: Uuid
    seq: Seq
    ts: TimestampMs
    v: Literal[1] = 1
    incognito: bool = False


class SessionStarted(EventBase, frozen=True, tag="session.started"):
    """The user started a recording session (from the popup or the dashboard)."""

    label: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SessionStopped(EventBase, frozen=True, tag="session.stopped"):
    """The user stopped the session; every open visit closes at ``ts``."""


class TabActivated(EventBase, frozen=True, tag="tab.activated"):
    """A tab became the active tab of its window."""

    tab_id: TabId
    window_id: WindowId
    url: Url
    title: Title = ""


class TabUpdated(EventBase, frozen=True, tag="tab.updated"):
    """A tab's URL or title changed, including SPA history changes.

    ``change`` says what changed: ``url`` (a full navigation), ``history``
    (pushState/replaceState in a single-page app) or ``title`` only.
    """

    tab_id: TabId
    window_id: WindowId
    url: Url
    title: Title = ""
    change: Literal["url", "history", "title"] = "url"


class TabRemoved(EventBase, frozen=True, tag="tab.removed"):
    """A tab was closed."""

    tab_id: TabId
    window_id: WindowId = -1


class WindowFocus(EventBase, frozen=True, tag="window.focus"):
    """The browser focused a window (``focused``) or lost focus to another app."""

    focused: bool
    window_id: WindowId = -1


IdleForS = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=86_400,
        description=(
            "seconds the user had been inactive when chrome.idle reported `idle` (its"
            " detection interval); 0 when idle was not inferred from inactivity (screen"
            " locked, recording paused, going active)"
        ),
    ),
]


class IdleState(EventBase, frozen=True, tag="idle.state"):
    """The machine went idle, was locked, or became active again (chrome.idle).

    ``idle_for_s`` is how long the user had been inactive when ``idle`` was reported,
    so their last input was at ``ts - idle_for_s * 1000``: the processors apply their
    own idle threshold from it (also when replaying history).
    """

    state: Literal["active", "idle", "locked"]
    idle_for_s: IdleForS = 0


class MediaState(EventBase, frozen=True, tag="media.state"):
    """A tab started or stopped playing sound or media, so watching is not idle."""

    tab_id: TabId
    audible: bool
    window_id: WindowId = -1
    playing: bool = False


class PageContent(EventBase, frozen=True, tag="page.content"):
    """The readable text the content script extracted from a page."""

    # content_hash must be the SHA-256 of text as sent (the gateway refuses the event
    # otherwise, text_matches): a client names only text it really has. Inside the log
    # the gateway may leave out a text the pipeline already holds, after checking it;
    # such an event keeps only the hash. (Kept out of the docstring, which is part of
    # the generated extension contract.)

    tab_id: TabId
    url: Url
    content_hash: ContentHash
    title: Title = ""
    lang: Annotated[str, msgspec.Meta(max_length=35)] = ""
    text: PageText = ""


ClientEvent = (
    SessionStarted
    | SessionStopped
    | TabActivated
    | TabUpdated
    | TabRemoved
    | WindowFocus
    | IdleState
    | MediaState
    | PageContent
)

CLIENT_EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        SessionStarted,
        SessionStopped,
        TabActivated,
        TabUpdated,
        TabRemoved,
        WindowFocus,
        IdleState,
        MediaState,
        PageContent,
    )
}


def text_hash(text: str) -> str:
    """Lower-case hex SHA-256 of ``text`` as UTF-8: what ``content_hash`` must be."""
    return hashlib.sha256(text.encode()).hexdigest()


def text_matches(event: PageContent) -> bool:
    """Whether the event's ``content_hash`` is the SHA-256 of the text it carries."""
    return event.content_hash == text_hash(event.text)
