"""The gateway's view of each raw partition's log epoch (see :mod:`mindhit.log_epoch`).

Every append names the epoch the gateway expects, and the append script refuses it
when the partition's epoch differs. The gateway then re-reads the epoch:

- missing (Redis lost its data): it creates a fresh one, logs an error and goes on
  appending. Uploads stay acknowledged and safe in the new log; the consumers see
  the fresh epoch differ from the one stored with their checkpoints and stand still,
  and ``mindhit recover`` re-appends these entries after the recovered log;
- another epoch (someone else recreated it, or ``mindhit recover`` set it): adopted,
  with an error logged unless it follows a recovery;
- a recovery in progress (``recovering:…``): the upload is refused with 503 (clients
  keep it and retry), so nothing is appended while the log is being rebuilt.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from mindhit.log_epoch import RECOVERING, create_epochs, epoch_key
from mindhit.logs import get_logger
from mindhit.upload_log import LogEpochError

__all__ = ["GatewayEpochs"]

log = get_logger(__name__)


class GatewayEpochs:
    """The epoch each raw partition's appends expect, re-read when an append is refused."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self.expected: dict[int, str] = {}

    async def refresh(self, partition: int) -> str:
        """Re-read (or create) ``partition``'s epoch and expect it from now on.

        Raises:
            LogEpochError: ``mindhit recover`` is rebuilding the partition's log.
        """
        raw = await self._redis.get(epoch_key(self._prefix, partition))
        current = raw.decode() if isinstance(raw, bytes) else raw
        before = self.expected.get(partition)
        if current is None:
            current = (await create_epochs(self._redis, self._prefix, [partition]))[partition]
            if before is not None:
                log.error(
                    "log_epoch_lost",
                    partition=partition,
                    before=before,
                    now=current,
                    detail="Redis lost the log: uploads go on in a fresh epoch; consumers"
                    " stand still until `mindhit recover`",
                )
        elif current.startswith(RECOVERING):
            raise LogEpochError(
                f"raw partition {partition}: the log is being recovered (`mindhit recover`)",
                partition=partition,
            )
        elif before is not None and current != before:
            log.warning("log_epoch_changed", partition=partition, before=before, now=current)
        self.expected[partition] = current
        return current
