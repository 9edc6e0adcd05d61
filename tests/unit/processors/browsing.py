"""A scripted browser: builds realistic client events with per-client seq and clock.

Used by the dwell tests, the integration test through the gateway and the bench,
so an expected visit list can be written next to the script that produces it.
"""

from __future__ import annotations

import hashlib

from schema.events import (
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

T0 = 1_790_000_000_000


def content_hash(text: str) -> str:
    """The hash the extension sends for a page's text."""
    return hashlib.sha256(text.encode()).hexdigest()


class Browser:
    """One extension install recording into one session; ``wait`` moves its clock."""

    def __init__(self, client_id: str, session_id: str, *, ts: int = T0, seq: int = 1) -> None:
        self.client_id = client_id
        self.session_id = session_id
        self.ts = ts
        self.seq = seq
        self.events: list[ClientEvent] = []

    def _env(self) -> dict[str, object]:
        env: dict[str, object] = {
            "event_id": uuid7(self.ts),
            "client_id": self.client_id,
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": self.ts,
        }
        self.seq += 1
        return env

    def _add(self, event: ClientEvent) -> ClientEvent:
        self.events.append(event)
        return event

    def wait(self, ms: int) -> Browser:
        """Let ``ms`` milliseconds pass."""
        self.ts += ms
        return self

    def start(self, label: str = "") -> ClientEvent:
        return self._add(SessionStarted(**self._env(), label=label))  # type: ignore[arg-type]

    def stop(self) -> ClientEvent:
        return self._add(SessionStopped(**self._env()))  # type: ignore[arg-type]

    def activate(self, tab: int, url: str, *, window: int = 1, title: str = "") -> ClientEvent:
        return self._add(
            TabActivated(**self._env(), tab_id=tab, window_id=window, url=url, title=title)  # type: ignore[arg-type]
        )

    def navigate(
        self, tab: int, url: str, *, window: int = 1, title: str = "", change: str = "url"
    ) -> ClientEvent:
        return self._add(
            TabUpdated(  # type: ignore[arg-type]
                **self._env(), tab_id=tab, window_id=window, url=url, title=title, change=change
            )
        )

    def close(self, tab: int, *, window: int = 1) -> ClientEvent:
        return self._add(TabRemoved(**self._env(), tab_id=tab, window_id=window))  # type: ignore[arg-type]

    def focus(self, window: int) -> ClientEvent:
        return self._add(WindowFocus(**self._env(), focused=True, window_id=window))  # type: ignore[arg-type]

    def blur(self) -> ClientEvent:
        return self._add(WindowFocus(**self._env(), focused=False, window_id=-1))  # type: ignore[arg-type]

    def idle(self, state: str, *, idle_for_s: int = 0) -> ClientEvent:
        """Report ``state``; ``idle_for_s`` = the inactivity chrome.idle inferred it from."""
        return self._add(IdleState(**self._env(), state=state, idle_for_s=idle_for_s))  # type: ignore[arg-type]

    def media(self, tab: int, audible: bool) -> ClientEvent:
        return self._add(MediaState(**self._env(), tab_id=tab, audible=audible))  # type: ignore[arg-type]

    def content(self, tab: int, url: str, text: str, *, title: str = "") -> ClientEvent:
        return self._add(
            PageContent(  # type: ignore[arg-type]
                **self._env(),
                tab_id=tab,
                url=url,
                content_hash=content_hash(text),
                title=title,
                text=text,
                lang="en",
            )
        )
