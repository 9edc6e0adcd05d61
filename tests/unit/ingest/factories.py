"""Realistic client events and upload bodies for the gateway's tests and bench."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from schema.ids import uuid7

__all__ = ["event_dicts", "upload_body"]


def event_dicts(
    count: int,
    *,
    client_id: str = "ext-1",
    session_id: str | None = None,
    first_seq: int = 1,
    ts: int = 1_764_000_000_000,
    host: str = "news.example",
) -> list[dict[str, Any]]:
    """``count`` valid events as JSON-ready dicts, cycling through the transition types."""
    session_id = session_id or uuid7(ts)
    events: list[dict[str, Any]] = []
    for i in range(count):
        base: dict[str, Any] = {
            "event_id": uuid7(ts + i),
            "client_id": client_id,
            "session_id": session_id,
            "seq": first_seq + i,
            "ts": ts + i * 250,
        }
        kind = i % 6
        url = f"https://{host}/article/{i}?ref=feed"
        if kind == 0:
            event = {"type": "tab.activated", "tab_id": i % 9, "window_id": 1, "url": url}
            event["title"] = f"Article {i}"
        elif kind == 1:
            event = {"type": "tab.updated", "tab_id": i % 9, "window_id": 1, "url": url}
            event |= {"title": f"Article {i} - updated", "change": "history"}
        elif kind == 2:
            event = {"type": "window.focus", "focused": bool(i % 2), "window_id": 1}
        elif kind == 3:
            event = {"type": "idle.state", "state": "active"}
        elif kind == 4:
            event = {"type": "media.state", "tab_id": i % 9, "audible": True, "playing": True}
        else:
            event = {"type": "tab.removed", "tab_id": i % 9, "window_id": 1}
        events.append(base | event)
    return events


def page_content(url: str, text: str, **envelope: Any) -> dict[str, Any]:
    """A ``page.content`` event dict."""
    return envelope | {
        "type": "page.content",
        "tab_id": 1,
        "url": url,
        "title": "t",
        "lang": "en",
        "text": text,
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
    }


def upload_body(
    events: list[dict[str, Any]], *, batch_id: str | None = None, client_id: str = "ext-1"
) -> bytes:
    """An upload body ``{batch_id, client_id, events}`` as JSON bytes."""
    return msgspec.json.encode(
        {"batch_id": batch_id or uuid7(), "client_id": client_id, "events": events}
    )
