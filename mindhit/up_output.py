"""What ``mindhit up`` shows of its components' output: pure filtering, no I/O.

A user of ``mindhit up`` wants one ready line per component and afterwards only
warnings and their own requests, not every service's start-up chatter. The
components log JSON under ``up`` (one object per line); :class:`OutputFilter` shows
a line when it is a warning or worse or a request line (it carries an HTTP
``status``), rendered compactly. Lines that are not JSON (Faust's banner, a crash's
traceback) are held back until the component is ready: shown if it dies before
that, dropped once it is up, shown as they come afterwards. With
``MINDHIT_LOG_LEVEL=debug`` every line is shown as it arrives.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["OutputFilter", "render_json_line"]

_SHOWN_LEVELS = frozenset({"warning", "warn", "error", "critical", "exception"})
_SKIPPED_KEYS = frozenset({"timestamp", "level", "event", "logger", "component"})
_decode = msgspec.json.Decoder(dict[str, Any])
_SPINNER = "\x1b[?25"
"""Faust's start-up spinner hides and shows the cursor; such lines are never news."""


def render_json_line(record: dict[str, Any]) -> str:
    """``HH:MM:SS level event key=value …`` for one structured log record."""
    stamp = str(record.get("timestamp", ""))
    clock = stamp[11:19] if len(stamp) >= 19 else stamp
    level = str(record.get("level", "info"))
    fields = " ".join(f"{k}={v}" for k, v in record.items() if k not in _SKIPPED_KEYS)
    parts = [clock, level if level != "info" else "", str(record.get("event", "")), fields]
    return " ".join(p for p in parts if p)


class OutputFilter:
    """Decides, line by line, what one component's output shows under ``mindhit up``.

    Args:
        debug: show everything (``MINDHIT_LOG_LEVEL=debug``).
    """

    def __init__(self, *, debug: bool) -> None:
        self.debug = debug
        self.is_ready = False
        self._held: list[str] = []

    def feed(self, line: str) -> str | None:
        """The text to print for ``line`` now, or ``None`` to keep it quiet."""
        if self.debug:
            return line
        record = self._parse(line)
        if record is None:
            if _SPINNER in line:
                return None
            if self.is_ready:
                return line if line.strip() else None
            self._held.append(line)
            return None
        level = str(record.get("level", "")).lower()
        if level in _SHOWN_LEVELS or "status" in record:
            return render_json_line(record)
        return None

    def ready(self) -> None:
        """The component answers its health check: drop what its start-up printed."""
        self.is_ready = True
        self._held.clear()

    def held(self) -> list[str]:
        """Start-up lines held back (shown when the component dies before it is ready)."""
        lines, self._held = self._held, []
        return lines

    @staticmethod
    def _parse(line: str) -> dict[str, Any] | None:
        text = line.strip()
        if not text.startswith("{"):
            return None
        try:
            return _decode.decode(text)
        except msgspec.DecodeError:
            return None
