"""Jinja filters and globals: durations, dates, percentages, highlighted snippets, links.

Autoescaping is on for every template; these helpers return plain strings, except
:func:`time_element`, which builds its markup with ``Markup.format`` (escaping every value).
``web_href`` gives the URL only when it is http(s) (:func:`mindhit.links.web_href`): the
templates show every other recorded URL as text, never as a link.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.contrib.jinja import JinjaTemplateEngine
from markupsafe import Markup

from mindhit.links import web_href
from web.snippets import snippet_parts
from web.timeline import format_duration

__all__ = ["format_when", "install", "time_element"]


def _parse(value: str | int | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_when(value: str | int | datetime | None, style: str = "full") -> str:
    """``Thu 26 Nov 2026 · 12:30`` (``full``), ``12:30:05`` (``time``) or ``26 Nov`` (``day``)."""
    moment = _parse(value)
    if moment is None:
        return "—"
    if style == "time":
        return moment.strftime("%H:%M:%S")
    if style == "day":
        return moment.strftime("%d %b %Y")
    return moment.strftime("%a %d %b %Y · %H:%M")


def time_element(value: str | int | datetime | None, style: str = "full") -> Markup:
    """A ``<time>`` element showing UTC, which ``static/localtime.js`` turns into local time.

    Every interpolated value is escaped by ``Markup.format``.
    """
    moment = _parse(value)
    if moment is None:
        return Markup("—")
    iso = moment.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}" data-style="{}" title="{} UTC">{}</time>').format(
        iso, style, format_when(moment, "full"), format_when(moment, style)
    )


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _bar(value: float) -> str:
    """A dwell bar width in SVG user units (0-100), at least a hair so it stays visible."""
    return f"{max(0.5, min(100.0, value * 100)):.1f}"


def install(engine: JinjaTemplateEngine) -> None:
    """Register the filters on the template engine."""
    env: Any = engine.engine
    env.filters["duration"] = format_duration
    env.filters["when"] = time_element
    env.filters["when_text"] = format_when
    env.filters["percent"] = _percent
    env.filters["bar"] = _bar
    env.filters["web_href"] = lambda url: web_href(url or "") or ""
    env.globals["snippet_parts"] = snippet_parts
    env.autoescape = True
