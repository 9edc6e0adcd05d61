"""MindHit's contracts: the events, the log entries that carry them and the HTTP shapes.

This package imports nothing from the rest of the project; every service imports it.
Events are frozen, tagged msgspec Structs. New fields get defaults, a field never
changes type, and a breaking change is a new schema version with an upcaster.
"""

from __future__ import annotations

from schema.events import (
    SCHEMA_VERSION,
    ClientEvent,
    IdleState,
    MediaState,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
)
from schema.ids import uuid7

__all__ = [
    "SCHEMA_VERSION",
    "ClientEvent",
    "IdleState",
    "MediaState",
    "PageContent",
    "SessionStarted",
    "SessionStopped",
    "TabActivated",
    "TabRemoved",
    "TabUpdated",
    "WindowFocus",
    "uuid7",
]
