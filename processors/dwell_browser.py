"""A client's browser as the dwell fold knows it: tabs, windows, focus, media, page texts.

Pure functions that change one :class:`processors.dwell_state.ClientState` (a copy the
fold owns) for one event, and say which page should have an open visit. Idle and the
session events are the fold's own business (:mod:`processors.dwell`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processors.dwell_state import NO_WINDOW, UNKNOWN_WINDOW, ClientState, Tab
from processors.urls import normalize_url
from schema.events import (
    ClientEvent,
    MediaState,
    PageContent,
    SessionStarted,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
)
from schema.privacy import is_page_url

__all__ = ["BROWSER_CHANGES", "MAX_TABS", "MAX_TITLE", "SWITCH", "browser_change", "current_page"]

MAX_TABS = 200
"""Tabs remembered per client; the oldest inactive ones are forgotten beyond this."""
MAX_TITLE = 300

Change = tuple[str, bool]
"""Why an open visit would close now, and whether it must split even on the same page."""


SWITCH: Change = ("switch", False)
"""What an event of a type not in :data:`BROWSER_CHANGES` asks of the open visit."""


def browser_change(client: ClientState, ev: ClientEvent) -> Change | None:
    """Apply ``ev`` to ``client``'s browser; ``None`` when the visit needs no reconciling."""
    change = BROWSER_CHANGES.get(type(ev))
    return change(client, ev) if change is not None else SWITCH


def current_page(client: ClientState) -> tuple[int, Tab] | None:
    """The page that should have an open visit on this client, if any."""
    if not client.session_id or client.focused_window < 0:
        return None
    tab_id = client.active.get(client.focused_window)
    if tab_id is None:
        return None
    tab = client.tabs.get(tab_id)
    if tab is None or not is_page_url(tab.url):
        return None
    if client.idle and not tab.audible:
        return None
    return tab_id, tab


def _started(_client: ClientState, _ev: SessionStarted) -> Change:
    return "session_started", False


def _activated(client: ClientState, ev: TabActivated) -> Change:
    _remember_tab(client, ev.tab_id, ev.window_id, ev.url, ev.title)
    client.active[ev.window_id] = ev.tab_id
    if client.focused_window == UNKNOWN_WINDOW:
        client.focused_window = ev.window_id
    return "switch", False


def _updated(client: ClientState, ev: TabUpdated) -> Change:
    tab = _remember_tab(client, ev.tab_id, ev.window_id, None, ev.title)
    visit = client.visit
    force_split = False
    if ev.change != "title" and ev.url != tab.url:
        tab.url = ev.url
        force_split = visit is not None and visit.tab_id == ev.tab_id
    if visit is not None and visit.tab_id == ev.tab_id and ev.title and not force_split:
        visit.title = ev.title[:MAX_TITLE]  # a retitle of the page being read
    return "navigate", force_split


def _removed(client: ClientState, ev: TabRemoved) -> Change:
    client.tabs.pop(ev.tab_id, None)
    for window, tab_id in list(client.active.items()):
        if tab_id == ev.tab_id:
            del client.active[window]
    return "tab_closed", False


def _focus(client: ClientState, ev: WindowFocus) -> Change:
    client.focused_window = ev.window_id if ev.focused else NO_WINDOW
    return ("switch" if ev.focused and ev.window_id != NO_WINDOW else "blur"), False


def _media(client: ClientState, ev: MediaState) -> Change:
    playing = client.tabs.get(ev.tab_id)
    if playing is not None:
        playing.audible = ev.audible or ev.playing
    return "idle", False


def _content(client: ClientState, ev: PageContent) -> None:
    """A page's text arrived: remember its hash on the tab and on the open visit of that page."""
    shown = client.tabs.get(ev.tab_id)
    if shown is not None:
        shown.content_url = normalize_url(ev.url)
        shown.content_hash = ev.content_hash
    visit = client.visit
    if (
        visit is not None
        and visit.tab_id == ev.tab_id
        and normalize_url(visit.url) == normalize_url(ev.url)
    ):
        visit.content_hash = ev.content_hash


BROWSER_CHANGES: dict[type[Any], Callable[[ClientState, Any], Change | None]] = {
    SessionStarted: _started,
    TabActivated: _activated,
    TabUpdated: _updated,
    TabRemoved: _removed,
    WindowFocus: _focus,
    MediaState: _media,
    PageContent: _content,
}
"""Event type → what applies it to the client's browser (:func:`browser_change` looks it up;
the fold does, written out)."""


def _remember_tab(
    client: ClientState, tab_id: int, window_id: int, url: str | None, title: str
) -> Tab:
    tab = client.tabs.get(tab_id)
    if tab is None:
        if len(client.tabs) >= MAX_TABS:
            _forget_oldest_tab(client)
        tab = client.tabs[tab_id] = Tab(window_id=window_id, url=url or "")
    elif tab.window_id != window_id and window_id != NO_WINDOW:
        if client.active.get(tab.window_id) == tab_id:
            del client.active[tab.window_id]  # the tab was dragged to another window
        tab.window_id = window_id
    if url is not None and url != tab.url:
        tab.url = url
    if title:
        tab.title = title[:MAX_TITLE]
    return tab


def _forget_oldest_tab(client: ClientState) -> None:
    active = set(client.active.values())
    for tab_id in client.tabs:
        if tab_id not in active:
            del client.tabs[tab_id]
            return
