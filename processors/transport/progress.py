"""Livelock detection: a partition with work left whose committed offset stopped moving."""

from __future__ import annotations

from faust.types import TP

from mindhit.logs import get_logger

__all__ = ["ProgressWatch"]

log = get_logger(__name__)


class ProgressWatch:
    """Remembers, per partition, since when its committed offset has not moved."""

    def __init__(self) -> None:
        self._since: dict[TP, tuple[int | None, float]] = {}

    def stalled_for(
        self, tp: TP, now: float, committed: int | None, highwater: int, limit: float
    ) -> float | None:
        """Seconds ``tp`` has been stalled, once that exceeds ``limit`` (then the clock restarts).

        A partition is stalled while it has entries beyond its committed offset and
        that offset stays the same; progress or having caught up resets it.
        """
        behind = highwater > (committed or 0)
        last = self._since.get(tp)
        if last is None or last[0] != committed or not behind:
            self._since[tp] = (committed, now)
            return None
        stalled = now - last[1]
        if stalled <= limit:
            return None
        self._since[tp] = (committed, now)
        return stalled

    def warn_if_stalled(
        self, tp: TP, now: float, committed: int | None, highwater: int, limit: float
    ) -> None:
        """Log ``partition not progressing`` once ``tp`` has been stalled past ``limit``."""
        stalled = self.stalled_for(tp, now, committed, highwater, limit)
        if stalled is not None:
            log.warning(
                "partition not progressing",
                topic=tp.topic,
                partition=tp.partition,
                committed=committed,
                highwater=highwater,
                stalled_s=round(stalled, 1),
            )
