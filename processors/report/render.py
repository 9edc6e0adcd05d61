"""Rendering a session report (pure): the session's duration, top pages and mind map.

The HTML is a Jinja2 template next to this module (autoescaped, inline styles only, since
mail clients drop style sheets); a plain-text twin is built here for clients without HTML.
Only http(s) URLs become links (:func:`mindhit.links.web_href`); any other recorded URL
(``javascript:``, ``data:``, ``file:``…) is shown as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import jinja2
import msgspec

from mindhit.links import web_href
from processors.ai.mindmap import format_duration
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed

__all__ = ["TOP_PAGES", "ReportEmail", "render_report"]

TOP_PAGES = 10
"""How many pages the "top pages" table shows."""


class ReportEmail(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered report: subject line, HTML body and plain-text body."""

    subject: str
    html: str
    text: str


class _TopPage(msgspec.Struct, frozen=True):
    title: str
    url: str
    href: str
    domain: str
    dwell: str
    percent: int


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("processors.report", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = _duration
    env.filters["web_href"] = lambda url: web_href(url) or ""
    return env.get_template("session_report.html")


def _duration(ms: int) -> str:
    return format_duration(int(ms))


def _when(started_ms: int, stopped_ms: int) -> str:
    start = datetime.fromtimestamp(started_ms / 1000, tz=UTC)
    stop = datetime.fromtimestamp(stopped_ms / 1000, tz=UTC)
    day = start.strftime("%a %d %b %Y")
    return f"{day}, {start:%H:%M}–{stop:%H:%M} UTC"


def _top_pages(closed: SessionClosed) -> list[_TopPage]:
    ranked = sorted(closed.pages, key=lambda p: (-p.dwell_ms, p.url))[:TOP_PAGES]
    longest = max((p.dwell_ms for p in ranked), default=0) or 1
    return [
        _TopPage(
            title=p.title or p.url,
            url=p.url,
            href=web_href(p.url) or "",
            domain=p.domain,
            dwell=_duration(p.dwell_ms),
            percent=max(2, round(100 * p.dwell_ms / longest)),
        )
        for p in ranked
    ]


def _text_url(page: _TopPage) -> str:
    # angle brackets make a link in many mail clients: only for web URLs
    return f"<{page.href}>" if page.href else f"(not a web page: {page.url[:120]})"


def _text(
    closed: SessionClosed, root: MindmapNode, when: str, top: list[_TopPage], link: str
) -> str:
    total = _duration(closed.stopped_ts - closed.started_ts)
    lines = [
        f"Your browsing session: {root.label}",
        when,
        f"Active {_duration(closed.active_ms)} of {total}",
        f"{closed.page_count} pages · {closed.domain_count} sites",
        "",
        "Top pages by time spent:",
        *(f"  {page.dwell:>9}  {page.title} {_text_url(page)}" for page in top),
        "",
        "Mind map:",
        f"  {root.label} ({_duration(root.weight_ms)})",
    ]
    for branch in root.children:
        lines.append(f"    {branch.label} ({_duration(branch.weight_ms)}): {branch.why}")
        lines.extend(
            f"      - {leaf.label} ({_duration(leaf.weight_ms)})" for leaf in branch.children
        )
    lines += ["", f"Open in MindHit: {link}"]
    return "\n".join(lines) + "\n"


def render_report(closed: SessionClosed, built: MindmapBuilt, *, public_url: str) -> ReportEmail:
    """The report email for one session whose mind map was built.

    Args:
        closed: the closed session (times, counts and its pages with dwell).
        built: its mind map.
        public_url: where users reach the dashboard (for the links).
    """
    base = public_url.rstrip("/")
    link = f"{base}/sessions/{closed.session_id}"
    when = _when(closed.started_ts, closed.stopped_ts)
    top = _top_pages(closed)
    subject = (
        f"Your session: {built.root.label} · {_duration(closed.active_ms)}, "
        f"{closed.page_count} page{'s' if closed.page_count != 1 else ''}"
    )
    html = _template().render(
        closed=closed,
        root=built.root,
        provider=built.provider,
        when=when,
        total_ms=closed.stopped_ts - closed.started_ts,
        top=top,
        link=link,
        settings_link=f"{base}/settings",
    )
    return ReportEmail(subject=subject, html=html, text=_text(closed, built.root, when, top, link))
