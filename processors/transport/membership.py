"""A worker's membership of its consumer group: the group lease and fenced commits.

There is no broker-side group coordinator. A worker joins its group by taking the
group lease (:mod:`processors.transport.lease`), waiting as a hot standby while
another live worker holds it, keeps it renewed in the background, and gives it up
on a clean stop. Every offset commit goes through the lease, so a worker that lost
it can never overwrite the progress of the worker that took over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from mode import Service
from redis.exceptions import RedisError

from mindhit.logs import get_logger
from processors.transport import metrics
from processors.transport.context import GroupContext
from processors.transport.lease import GroupLease, LeaseLost

__all__ = ["GroupMembership", "LeaseLost"]

log = get_logger(__name__)

#: A commit that keeps failing is logged on its 1st, 31st, 61st... attempt (about a minute apart).
_COMMIT_FAILURES_LOGGED_EVERY = 30

OnLost = Callable[[BaseException], Awaitable[None]]


class GroupMembership(Service):
    """Holds this worker's group lease while it consumes; stores its commits fenced by it."""

    def __init__(self, ctx: GroupContext, *, on_lost: OnLost, **kwargs: Any) -> None:
        self.ctx = ctx
        self.lease = GroupLease(ctx.prefix, ctx.group, ctx.member, ctx.options.lease_ms)
        self._on_lost = on_lost
        self._client: aioredis.Redis | None = None
        self._held = False
        self._renewing = asyncio.Lock()  # a renewal never overlaps the release at stop
        super().__init__(**kwargs)

    @property
    def client(self) -> aioredis.Redis:
        """This service's own Redis client (created on first use)."""
        if self._client is None:
            self._client = self.ctx.new_client()
        return self._client

    @property
    def held(self) -> bool:
        """Whether this worker holds the group lease."""
        return self._held

    def _set_held(self, held: bool) -> None:
        self._held = held
        metrics.LEASE_HELD.set(1 if held else 0)

    async def join(self) -> None:
        """Take the group lease, waiting as a standby while another worker holds it."""
        waiting_logged = False
        while not self.should_stop:
            if await self.lease.renew(self.client):
                self._set_held(True)
                if waiting_logged:
                    log.info("group lease acquired", group=self.ctx.group, member=self.ctx.member)
                return
            if not waiting_logged:
                holder = await self.lease.holder(self.client)
                log.warning("waiting for group lease", group=self.ctx.group, holder=holder)
                waiting_logged = True
            await self.sleep(self.ctx.options.lease_ms / 4000)

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store committed offsets, fenced by the group lease (one attempt).

        Raises:
            LeaseLost: another worker holds the lease; nothing was stored.
            redis.exceptions.RedisError: Redis failed; the caller retries.
        """
        try:
            await self.lease.commit(self.client, offsets)
        except LeaseLost:
            self._set_held(False)
            raise

    async def commit_until_stored(
        self, offsets: Mapping[tuple[str, int], int], stopping: Callable[[], bool]
    ) -> bool:
        """Store committed offsets fenced by the lease, retrying Redis errors until stored.

        Steps:
            1. Run the fenced commit; if another worker holds the lease, log, report
               the lease lost (the worker crashes) and return False.
            2. On a Redis error, back off and go to 1, until stored or ``stopping()``
               (not stored at shutdown: the next worker replays from the last stored
               commit, as after a crash; a SIGTERM never waits for Redis).
        """
        failures = 0
        while True:
            try:
                await self.commit(offsets)
                break
            except LeaseLost as exc:
                log.error("group lease lost; stopping", group=self.ctx.group, error=str(exc))
                await self._on_lost(exc)
                return False
            except RedisError as exc:
                failures += 1
                if stopping():
                    log.warning("commit failed while stopping", error=repr(exc), detail=str(exc))
                    return False
                metrics.COMMIT_RETRIES.inc()
                if failures % _COMMIT_FAILURES_LOGGED_EVERY == 1:
                    log.warning(
                        "commit failed; retrying until stored",
                        error=repr(exc),
                        detail=str(exc),
                        failed_attempts=failures,
                    )
                await self.sleep(min(0.05 * 2**failures, 2.0))
        if failures:
            log.info("commit stored", failed_attempts=failures)
        return True

    @Service.task
    async def _keep_lease(self) -> None:
        """Renew the lease every third of its lifetime; report it lost if taken over."""
        while not self.should_stop:
            await self.sleep(self.ctx.options.lease_ms / 3000)
            async with self._renewing:
                if self.should_stop:  # on_stop releases the lease: never renew it after
                    return
                if not self._held:
                    continue
                try:
                    held = await self.lease.renew(self.client)
                except Exception as exc:  # Redis unreachable: the next renewal may succeed
                    log.warning("lease renewal failed", error=repr(exc))
                    continue
            if not held:
                self._set_held(False)
                log.error("group lease taken by another worker; stopping", group=self.ctx.group)
                await self._on_lost(LeaseLost(f"lease of group {self.ctx.group!r} was taken over"))
                return

    async def on_stop(self) -> None:
        """Release the lease (a standby takes over at once), then close the connection."""
        async with self._renewing:
            if self._held:
                self._set_held(False)
                try:
                    await self.lease.release(self.client)
                except Exception as exc:
                    log.warning("lease release failed; it expires by itself", error=repr(exc))
        await self.aclose()

    async def aclose(self) -> None:
        """Close this service's Redis connection."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
