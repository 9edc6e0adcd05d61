"""The live projection loop: topic streams → folds → one PostgreSQL transaction per turn.

Reads raw and derived topic partitions directly with :func:`mindhit.streams.read`
(not Faust: the projector needs no state beyond its tables and checkpoints).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.checkpoints import CheckpointMoved, Checkpoints
from mindhit.logs import get_logger
from mindhit.session_owners import settled_ttl_s
from mindhit.settings import Settings
from mindhit.stream_reader import StreamReader
from projector import metrics
from projector.archive_read import read_archived
from projector.derivations import Derivation, latest_derivation, superseded
from projector.folds import Batch
from projector.forget import forget_user
from projector.overview_drainer import drain_ahead
from projector.owner_keys import OwnerKeys
from projector.pg import Tables, Writer, apply_batch, ensure_temp_tables, erased_after, live_tables
from projector.projections import PROJECTIONS, projection_of_topic, stream_ids
from projector.retention import purge_points, purge_quarantine
from schema.log import FIELD_VALUE, LogEntryError, decode_derived_entry, decode_raw_entry
from schema.topics import RAW_TOPIC

__all__ = ["ProjectionConsumer", "fold_value"]

log = get_logger(__name__)


def fold_value(batch: Batch, topic: str, value: bytes | None, cutover: int = 0) -> None:
    """Decode one entry value of ``topic`` and fold it into ``batch``.

    A derived entry superseded by the derivation in force (origin below the
    ``cutover`` of its partition, see :mod:`projector.derivations`) is skipped.
    """
    if value is None:
        return
    try:
        if topic == RAW_TOPIC:
            batch.add_raw(decode_raw_entry(value))
        else:
            entry = decode_derived_entry(value)
            if superseded(entry.origin, cutover):
                batch.superseded += 1
                return
            batch.add_derived(entry)
    except LogEntryError as exc:
        batch.rejected += 1
        log.error("undecodable_entry", topic=topic, error=str(exc))


class ProjectionConsumer:
    """Folds new stream entries into the read tables of some projections.

    Args:
        settings: the settings (key prefix, partitions).
        redis: async Redis client.
        conn: a synchronous PostgreSQL connection owned by this consumer.
        projections: names of the projections to run (default: all).
        tables: physical tables to write (default: the live ones).
        entries_per_read: entries read per stream per turn.
        now: clock (seconds), injected.
    """

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        conn: psycopg.Connection[Any],
        *,
        projections: Iterable[str] = tuple(PROJECTIONS),
        tables: Tables | None = None,
        entries_per_read: int = 64,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.reader = StreamReader(redis)
        """Reads the partitions' streams (a frozen cluster node holds up only its own)."""
        self.conn = conn
        self.projections = tuple(projections)
        self.tables = tables or live_tables()
        self.entries_per_read = entries_per_read
        self.now = now
        topics = [t for name in self.projections for t in PROJECTIONS[name].topics]
        self._all_ids = stream_ids(settings, topics)
        self.ids = self._all_ids
        self.tokens: dict[int, int] | None = None
        """Partition → fencing token, when this replica folds only the partitions it holds."""
        self.positions: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        self.erased: dict[str, int] = {}
        self.erased_seq = 0
        self.derivation: Derivation | None = None
        self.epochs: dict[int, str] = {}
        """Partition → log epoch, stored beside each checkpoint (kept by the log guard)."""
        self.last_turn = now()
        self.owner_keys = (
            OwnerKeys(redis, settings.key_prefix, settled_ttl_s(settings), now)
            if self.tables == live_tables()
            else None
        )
        """Settles the owner keys of the sessions written (live tables only)."""

    def own(self, tokens: Mapping[int, int]) -> None:
        """Fold only the partitions of ``tokens``, each commit fenced by their tokens."""
        self.tokens = dict(tokens)
        self.ids = {s: tp for s, tp in self._all_ids.items() if tp[1] in self.tokens}
        self.positions = {s: o for s, o in self.positions.items() if s in self.ids}

    def _fence(self, advance: Mapping[str, int]) -> dict[int, int] | None:
        """The tokens of the partitions a commit advances (None: not in a group)."""
        if self.tokens is None:
            return None
        return {p: self.tokens[p] for p in {self.ids[s][1] for s in advance}}

    def _cutover(self, topic: str, partition: int) -> int:
        """Derived entries of this stream with an origin below this are superseded."""
        if topic == RAW_TOPIC or self.derivation is None:
            return 0
        return self.derivation.cutover.get(partition, 0)

    def _key(self, stream: str) -> tuple[str, str, int]:
        topic, partition = self.ids[stream]
        return (projection_of_topic(topic), topic, partition)

    async def load(self) -> None:
        """Resume: positions from the stored checkpoints (0 for never-seen streams).

        Also reads the erased users and the derivation in force (whose cutover
        decides which derived entries are superseded).
        """

        def go() -> tuple[Checkpoints, tuple[dict[str, int], int], Derivation | None]:
            ensure_temp_tables(self.conn)
            self.conn.commit()
            cps = checkpoints.load(self.conn, self.projections)
            erased = erased_after(self.conn, 0)
            self.conn.commit()
            return cps, erased, latest_derivation(self.conn)

        stored, (self.erased, self.erased_seq), self.derivation = await asyncio.to_thread(go)
        self.positions = {s: stored.get(self._key(s), 0) for s in self.ids}
        # Streams already trimmed past our checkpoint (e.g. read tables restored from
        # an old backup): the missing entries come from the archive first.
        self.gaps = {}
        for stream, position in self.positions.items():
            earliest = await streams.earliest_offset(self.redis, stream)
            if position < earliest:
                self.gaps[stream] = earliest

    async def turn(self, *, block_ms: int | None = 1000) -> int:
        """Run one read-fold-commit turn; return the number of entries committed.

        Steps: read up to ``entries_per_read`` entries per stream from the current
        positions (from the archive first for streams trimmed past them); fold
        everything into one batch; apply it and the advanced checkpoints in one
        transaction (:func:`projector.pg.apply_batch`); only then advance the
        in-memory positions. A moved checkpoint (another writer, or a replay swap)
        reloads the positions and drops the batch.
        """
        batch = Batch(self.erased, self.erased_seq)
        advance: dict[str, int] = {}
        if self.gaps:
            entries = await self._from_archive(batch, advance)
        else:
            entries = await self._from_redis(batch, advance, block_ms, self.positions)
        self.last_turn = self.now()
        if not advance:
            return 0
        return entries if await self._commit(batch, advance) else 0

    async def _commit(self, batch: Batch, advance: dict[str, int]) -> bool:
        """Apply one batch from the committed positions; False when the checkpoint moved.

        Steps: when the batch erases (live tables), drain the overview's backlog first
        without the erasure lock (:func:`projector.overview_drainer.drain_ahead`); apply
        the batch and its checkpoints in one transaction; advance the in-memory
        positions; then settle the owner keys of the sessions it wrote
        (:mod:`projector.owner_keys`: only once their rows are committed).
        """
        expected_cps = {self._key(s): self.positions[s] for s in advance}
        new_cps = {self._key(s): o for s, o in advance.items()}
        purges = await self._purges(batch)
        if (batch.erasures or batch.session_erasures) and self.owner_keys is not None:
            await asyncio.to_thread(drain_ahead, self.conn)  # live: the erasure drains the rest
        started = time.perf_counter()
        try:
            await asyncio.to_thread(
                apply_batch,
                self.conn,
                batch,
                tables=self.tables,
                expected=expected_cps,
                advance=new_cps,
                purges=purges,
                writer=Writer(
                    generation=self.derivation.generation if self.derivation else 0,
                    epochs=self.epochs,
                    tokens=self._fence(advance),
                ),
            )
        except CheckpointMoved as exc:
            log.warning("checkpoint_moved", detail=str(exc))
            await self.load()
            return False
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        self.positions.update(advance)
        self.erased.update(batch.erased)
        self.erased_seq = batch.erased_seq
        metrics.EVENTS.labels("projector").inc(batch.events)
        metrics.REJECTED.inc(batch.rejected)
        if self.owner_keys is not None and batch.sessions:
            await self.owner_keys.settle(batch.sessions)
        return True

    async def _from_redis(
        self,
        batch: Batch,
        advance: dict[str, int],
        block_ms: int | None,
        positions: Mapping[str, int],
    ) -> int:
        records = await self.reader.read(positions, count=self.entries_per_read, block_ms=block_ms)
        for record in records:
            topic, partition = self.ids[record.stream]
            expected = advance.get(record.stream, positions[record.stream])
            if record.offset > expected:
                await self._fill_gap(batch, topic, partition, expected, record.offset)
            if record.offset < expected:
                continue
            fold_value(
                batch, topic, record.fields.get(FIELD_VALUE), self._cutover(topic, partition)
            )
            advance[record.stream] = record.offset + 1
        return len(records)

    async def _from_archive(self, batch: Batch, advance: dict[str, int]) -> int:
        stream, earliest = next(iter(self.gaps.items()))
        topic, partition = self.ids[stream]
        lo = self.positions[stream]
        hi = min(earliest, lo + 4 * self.entries_per_read)
        await self._fill_gap(batch, topic, partition, lo, hi)
        advance[stream] = hi
        if hi >= earliest:
            del self.gaps[stream]
        return hi - lo

    async def _fill_gap(self, batch: Batch, topic: str, partition: int, lo: int, hi: int) -> None:
        log.warning("stream_gap_reading_archive", topic=topic, partition=partition, lo=lo, hi=hi)

        def go() -> int:
            offsets = set()
            cutover = self._cutover(topic, partition)
            for offset, value in read_archived(self.conn, topic, partition, lo, hi):
                fold_value(batch, topic, value, cutover)
                offsets.add(offset)
            self.conn.commit()
            return len(offsets)

        found = await asyncio.to_thread(go)
        if found < hi - lo:
            metrics.GAP_ENTRIES.inc(hi - lo - found)
            log.error(
                "stream_gap_not_archived", topic=topic, partition=partition, missing=hi - lo - found
            )

    async def _purges(self, batch: Batch) -> dict[str, dict[str, int]]:
        """Per erased user of the batch: stream → offset to trim below (see retention).

        Also deletes what else Redis holds of them: quarantined events, dead letters and
        per-user keys (:mod:`projector.forget`).
        """
        points = {}
        for user_id in batch.erasures:
            points[user_id] = await purge_points(self.settings, self.redis, user_id)
            await purge_quarantine(self.redis, self.settings.key_prefix, user_id)
            forgotten = await forget_user(self.redis, self.settings, user_id)
            log.info("user_redis_keys_erased", user_id=user_id, **msgspec.structs.asdict(forgotten))
        for user_id, _session in batch.session_erasures:
            if user_id not in points:
                points[user_id] = await purge_points(self.settings, self.redis, user_id)
        return points

    async def lag(self) -> dict[tuple[str, str, int], int]:
        """Entries not yet folded, per (projection, topic, partition)."""
        ids, positions = self.ids, list(self.positions.items())  # a new round may own() meanwhile
        out: dict[tuple[str, str, int], int] = {}
        for stream, position in positions:
            topic, partition = ids[stream]
            lag = max(0, await streams.highwater(self.redis, stream) - position)
            out[(projection_of_topic(topic), topic, partition)] = lag
        return out

    async def run(self, stop: asyncio.Event, tokens: Mapping[int, int] | None = None) -> None:
        """Fold until ``stop`` is set (a lost connection ends the run; the supervisor restarts).

        With ``tokens`` (a projector group's round, :func:`projector.group.run_rounds`)
        only the partitions of ``tokens`` are folded and every commit is fenced by them
        (:class:`projector.fencing.Fenced` ends the run).

        Pipelined: the next batch is read and folded while the previous one is being
        written. Steps per round: read and fold from the positions the in-flight
        batch will leave; wait for the in-flight commit (if its checkpoint moved,
        drop the new batch and restart from the reloaded positions); start
        committing the new batch. Commits stay strictly ordered, one at a time.
        """
        if tokens is not None:
            self.own(tokens)
        await self.load()
        if self.ids:
            await self._pipeline(stop)
            return
        while not stop.is_set():  # no partition of ours in this generation
            self.last_turn = self.now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _pipeline(self, stop: asyncio.Event) -> None:
        """The pipelined loop of :meth:`run`, from the loaded positions."""
        inflight: asyncio.Task[bool] | None = None
        ahead = dict(self.positions)
        try:
            while not stop.is_set():
                if self.gaps:
                    if inflight is not None:
                        await inflight
                        inflight = None
                    await self.turn()
                    ahead = dict(self.positions)
                    continue
                batch = Batch(self.erased, self.erased_seq)
                advance: dict[str, int] = {}
                block = 1000 if inflight is None else None
                await self._from_redis(batch, advance, block, ahead)
                self.last_turn = self.now()
                if inflight is not None:
                    committed = await inflight
                    inflight = None
                    if not committed:
                        ahead = dict(self.positions)
                        continue
                if advance:
                    ahead.update(advance)
                    inflight = asyncio.create_task(self._commit(batch, advance))
        finally:
            if inflight is not None:
                await asyncio.gather(inflight, return_exceptions=True)
