"""The Redis adapter that writes the coalescer's rounds: one raw-log entry per partition.

:meth:`LogWriter.write_round` is the coalescer's ``write`` function: it encodes each
partition's uploads as one :class:`schema.log.RawEntry` and appends them all in one
round trip with :func:`mindhit.upload_log.append_many` (check-and-append in one Lua
script per entry); :meth:`LogWriter.write` appends one partition's entry on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from ingest.coalescer import AppendResult, Submission
from ingest.log_epochs import GatewayEpochs
from ingest.metrics import GatewayMetrics
from mindhit.settings import Settings
from mindhit.upload_log import (
    AppendOutcome,
    AppendPolicy,
    LogEpochError,
    PendingAppend,
    RawPartition,
    UploadId,
    append_many,
    append_uploads,
)
from schema.log import RawEntry, Upload, encode_raw_entry

__all__ = ["LogWriter"]


class LogWriter:
    """Appends flushes of uploads to the partition streams of the raw topic."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        metrics: GatewayMetrics,
        epochs: GatewayEpochs,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._redis = redis
        self._epochs = epochs
        self._settings = settings
        self._policy = AppendPolicy.of(settings)
        self._metrics = metrics
        self._timer = timer

    async def write_round(
        self, flushes: dict[int, list[Submission]]
    ) -> dict[int, list[AppendResult] | Exception]:
        """Append each partition's leaders (distinct batch ids) as one entry, all in one
        round trip; per partition one result per leader, or its error.

        Steps: encode each partition's entry under the epoch expected for it; append
        them all (:func:`mindhit.upload_log.append_many`); answer each partition whose
        entry was written; a partition whose entry was refused (some of its uploads
        already in the log, or another epoch: nothing of it was written), or whose
        epoch is not known yet, is written on its own by :meth:`write`, which handles
        both; any other error fails only its partition.
        """
        outcomes: dict[int, list[AppendResult] | Exception] = {}
        alone = [partition for partition in flushes if partition not in self._epochs.expected]
        batched = [partition for partition in flushes if partition in self._epochs.expected]
        appends = []
        for partition in batched:
            value, ids, timestamp_ms = _entry([s.upload for s in flushes[partition]])
            appends.append(
                PendingAppend(
                    target=RawPartition.of(self._settings.key_prefix, partition),
                    value=value,
                    epoch=self._epochs.expected[partition],
                    uploads=ids,
                    timestamp_ms=timestamp_ms,
                )
            )
        started = self._timer()
        results = await append_many(self._redis, appends, self._policy) if appends else []
        elapsed = self._timer() - started
        for partition, result in zip(batched, results, strict=True):
            if isinstance(result, LogEpochError) or (
                not isinstance(result, Exception) and result.offset is None
            ):
                alone.append(partition)
            elif isinstance(result, Exception):
                outcomes[partition] = result
            else:
                count = len(flushes[partition])
                self._metrics.append_seconds.observe(elapsed)
                self._metrics.entries.inc()
                self._metrics.entry_uploads.observe(count)
                outcomes[partition] = [AppendResult(False, result.offset)] * count
        if alone:
            retried = await asyncio.gather(
                *(self.write(partition, flushes[partition]) for partition in alone),
                return_exceptions=True,
            )
            for partition, retry in zip(alone, retried, strict=True):
                if isinstance(retry, BaseException) and not isinstance(retry, Exception):
                    raise retry
                outcomes[partition] = retry
        return outcomes

    async def write(self, partition: int, leaders: list[Submission]) -> list[AppendResult]:
        """Append ``leaders`` (distinct batch ids) as one entry; one result each.

        Steps: encode the entry; run the script (expecting the partition's log epoch,
        :class:`ingest.log_epochs.GatewayEpochs`); if it reports some uploads as
        already in the log, mark them duplicates, drop them and run it again with
        the rest (nothing was written); stop when the entry is written or no
        upload is left. Each round removes at least one upload, so it ends.
        """
        results: list[AppendResult | None] = [None] * len(leaders)
        remaining = list(range(len(leaders)))
        while remaining:
            uploads = [leaders[i].upload for i in remaining]
            value, ids, timestamp_ms = _entry(uploads)
            started = self._timer()
            outcome = await self._append(partition, value, ids=ids, timestamp_ms=timestamp_ms)
            self._metrics.append_seconds.observe(self._timer() - started)
            if outcome.offset is not None:
                self._metrics.entries.inc()
                self._metrics.entry_uploads.observe(len(uploads))
                for i in remaining:
                    results[i] = AppendResult(False, outcome.offset)
                break
            duplicates = dict(outcome.duplicates)
            for position, offset in duplicates.items():
                results[remaining[position]] = AppendResult(True, offset)
            remaining = [i for position, i in enumerate(remaining) if position not in duplicates]
        return [result if result is not None else AppendResult(True) for result in results]

    async def _append(
        self,
        partition: int,
        value: bytes,
        *,
        ids: list[UploadId],
        timestamp_ms: int,
    ) -> AppendOutcome:
        """One append under the expected epoch; when refused, re-read the epoch and retry once.

        Raises:
            LogEpochError: the partition's log is being recovered (503 to the client).
        """
        target = RawPartition.of(self._settings.key_prefix, partition)
        for attempt in range(2):
            expected = self._epochs.expected.get(partition)
            if expected is None:
                expected = await self._epochs.refresh(partition)
            try:
                return await append_uploads(
                    self._redis,
                    target,
                    value,
                    epoch=expected,
                    uploads=ids,
                    timestamp_ms=timestamp_ms,
                    policy=self._policy,
                )
            except LogEpochError:
                if attempt:
                    raise
                await self._epochs.refresh(partition)
        raise AssertionError("unreachable")


def _entry(uploads: list[Upload]) -> tuple[bytes, list[UploadId], int]:
    """One raw-log entry of ``uploads``: its encoded value, the uploads' ids (what the
    append script checks and records) and its time (the latest upload's arrival)."""
    value = encode_raw_entry(RawEntry(uploads=uploads))
    ids = [UploadId(u.user_id, u.client_id, u.batch_id) for u in uploads]
    return value, ids, max(u.received_at for u in uploads)
