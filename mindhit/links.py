"""Which recorded URLs may become links: ``http:`` and ``https:`` only.

Why it exists: a recorded URL is whatever the browser showed (``javascript:``,
``data:``, ``file:``, ``chrome:``…). As a link in a report email, an export or a
dashboard page, such a URL runs script, shows attacker-made content under a trusted
name or points into the reader's own machine. Every place that turns a recorded URL
into a link (report emails, the Markdown export, the dashboard's pages and map) asks
:func:`web_href` first and shows anything else as plain text.
"""

from __future__ import annotations

import re

__all__ = ["web_href"]

_WEB = re.compile(r"^https?://[^\s/?#\\]", re.IGNORECASE)


def web_href(url: str) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else ``None``.

    No trimming: a URL with leading spaces or control characters (which browsers strip
    before reading the scheme) is refused rather than repaired.
    """
    if _WEB.match(url) and not any(ord(c) < 0x20 or c == "\x7f" for c in url):
        return url
    return None
