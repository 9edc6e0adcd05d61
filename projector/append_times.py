"""When stream entries were appended, as far as the trimmer has seen: the retention window.

Topic streams have dense entry ids (``0-1, 0-2, …``) that say nothing about time, so
``XTRIM MINID`` cannot cut at a time directly. The trimmer instead notes each stream's
highwater every time it runs, with its injected clock: every entry below a highwater
noted at time T was appended before T. The offset to keep from, for a window W, is then
the highwater of the latest note made at or before ``now - W`` — never an entry younger
than W, and at most one trim interval more than W.

Pure; the notes survive a restart through a small hash per partition
(:mod:`projector.append_times_store`, encoded with :func:`encode_notes`), so a restarted
projector resumes trimming by age at once instead of after one window. To keep that
hash small, a note less than ``spacing_ms`` after the one before the last replaces the
last (so any two notes with one between them are a spacing apart: about 2 × W /
spacing notes in a window): every note stays true, and an entry is kept at most
``spacing_ms`` longer than it would be with every note.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["AppendTimes", "decode_notes", "encode_notes"]

Note = tuple[int, int]
"""(time in ms, highwater): every entry below the highwater was appended by that time."""


def encode_notes(notes: Iterable[Note]) -> bytes:
    """Notes as ``"<ms>:<highwater>,..."`` (what the per-partition hash stores)."""
    return ",".join(f"{when}:{highwater}" for when, highwater in notes).encode()


def decode_notes(data: bytes | str) -> list[Note]:
    """Notes from :func:`encode_notes`'s form; anything malformed gives no notes.

    Only notes that are in time and highwater order are kept (a mangled value must never
    say an entry is older than it is; an empty answer only trims less).
    """
    text = data.decode() if isinstance(data, bytes) else data
    notes: list[Note] = []
    try:
        for item in filter(None, text.split(",")):
            when, highwater = (int(part) for part in item.split(":"))
            if notes and (when < notes[-1][0] or highwater < notes[-1][1]):
                return []
            notes.append((when, highwater))
    except ValueError:
        return []
    return notes


class AppendTimes:
    """Per stream, (time, highwater) notes, oldest first, kept only as far back as needed.

    Args:
        spacing_ms: notes closer in time than this are merged (0: every one is kept).
    """

    def __init__(self, spacing_ms: int = 0) -> None:
        self._notes: dict[str, deque[Note]] = {}
        self._spacing_ms = spacing_ms

    def notes(self, stream: str) -> list[Note]:
        """The notes kept for ``stream``, oldest first."""
        return list(self._notes.get(stream, ()))

    def restore(self, stream: str, notes: Iterable[Note]) -> None:
        """Take ``notes`` (saved by an earlier run) for a stream with none noted yet."""
        if not self._notes.get(stream):
            self._notes[stream] = deque(notes)

    def note(self, stream: str, now_ms: int, highwater: int) -> None:
        """Record that ``stream`` held ``highwater`` entries at ``now_ms``.

        An unchanged highwater adds nothing (the earlier note says more); one that went
        down (the log was lost and is being rebuilt) forgets what was noted before.
        """
        notes = self._notes.setdefault(stream, deque())
        if notes and highwater < notes[-1][1]:
            notes.clear()
        if notes and highwater == notes[-1][1]:
            return
        if len(notes) >= 2 and now_ms - notes[-2][0] < self._spacing_ms:
            notes[-1] = (now_ms, highwater)  # still true, and the notes stay spaced
        else:
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
