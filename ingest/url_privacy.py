"""The extension's URL rules, applied again by the gateway (defence in depth).

An older, modified or buggy client may still send what the extension must never send:
a ``file:`` page, a ``chrome:`` title, a fragment, an OAuth ``code``. Before anything is
appended, :func:`scrub_events` applies :mod:`schema.privacy` to every upload:

* tab activations and updates of a page keep their URL without fragment, user info and
  secret parameters, and lose a title that is only the URL (a browser's title while the
  page loads, which spells out the secrets); those of anything that is not a page become
  ``about:blank`` (or stay ``about:blocked``) with no title, so they still end the
  previous visit and tell nothing;
* page texts of anything that is not a page are dropped (counted with the blocked events),
  those of pages keep their text under the scrubbed URL.

The documented secret names always apply here; names a user adds in the extension are
applied by the extension only.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from schema.events import ClientEvent, PageContent, TabActivated, TabUpdated
from schema.privacy import BLOCKED_URL, NOT_A_PAGE_URL, is_page_url, is_url_title, scrub_url

__all__ = ["recorded_url", "scrub_events"]

_PAGE_PREFIXES = ("https://", "http://")


@lru_cache(maxsize=65_536)
def _recorded(url: str) -> str:
    if not is_page_url(url):
        return BLOCKED_URL if url == BLOCKED_URL else NOT_A_PAGE_URL
    return scrub_url(url)


def recorded_url(url: str) -> str:
    """What ``url`` may be stored as: the page scrubbed, else a placeholder.

    On the upload path: a page URL with nothing to cut (most) is returned as it is without
    parsing, the rest is memoized (browsing revisits the same URLs).
    """
    if (
        url.startswith(_PAGE_PREFIXES)
        and "?" not in url
        and "#" not in url
        and "@" not in url
        and ";" not in url
    ):
        return url
    return _recorded(url)


def scrub_events(events: list[ClientEvent]) -> tuple[list[ClientEvent], int]:
    """Apply the URL rules to an upload's events; return the events kept and how many dropped."""
    kept: list[ClientEvent] = []
    dropped = 0
    for event in events:
        if isinstance(event, (TabActivated, TabUpdated)):
            url = recorded_url(event.url)
            placeholder = url in (NOT_A_PAGE_URL, BLOCKED_URL)
            drop_title = bool(event.title) and (placeholder or is_url_title(event.title, event.url))
            if url != event.url or drop_title:
                event = msgspec.structs.replace(
                    event, url=url, title="" if drop_title else event.title
                )
        elif isinstance(event, PageContent):
            url = recorded_url(event.url)
            if url in (NOT_A_PAGE_URL, BLOCKED_URL):
                dropped += 1
                continue
            if url != event.url:
                event = msgspec.structs.replace(event, url=url)
        kept.append(event)
    return kept, dropped
