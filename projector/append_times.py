"""When stream entries were appended, as far as the trimmer has seen: the retention window.

Topic streams have dense entry ids (``0-1, 0-2, …``) that say nothing about time, so
``XTRIM MINID`` cannot cut at a time directly. The trimmer instead notes each stream's
highwater every time it runs, with its injected clock: every entry below a highwater
noted at time T was appended before T. The offset to keep from, for a window W, is then
the highwater of the latest note made at or before ``now - W`` — never an entry younger
than W, and at most one trim interval more than W.

Pure and in memory: a restarted projector knows no times, so it trims nothing by age
until W has passed since it started (readers and erasure purges still trim as before).
"""

from __future__ import annotations

from collections import deque

__all__ = ["AppendTimes"]


class AppendTimes:
    """Per stream, (time, highwater) notes, oldest first, kept only as far back as needed."""

    def __init__(self) -> None:
        self._notes: dict[str, deque[tuple[int, int]]] = {}

    def note(self, stream: str, now_ms: int, highwater: int) -> None:
        """Record that ``stream`` held ``highwater`` entries at ``now_ms``.

        An unchanged highwater adds nothing (the earlier note says more); one that went
        down (the log was lost and is being rebuilt) forgets what was noted before.
        """
        notes = self._notes.setdefault(stream, deque())
        if notes and highwater < notes[-1][1]:
            notes.clear()
        if not notes or highwater > notes[-1][1]:
            notes.append((now_ms, highwater))

    def appended_before(self, stream: str, cutoff_ms: int) -> int:
        """An offset below which every entry of ``stream`` was appended by ``cutoff_ms``
        (0 when nothing is known); forgets the notes older than the one it answers from.
        """
        notes = self._notes.get(stream)
        if not notes:
            return 0
        while len(notes) > 1 and notes[1][0] <= cutoff_ms:
            notes.popleft()
        when, highwater = notes[0]
        return highwater if when <= cutoff_ms else 0
