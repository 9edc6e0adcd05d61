"""Commits that cover what was acked: one after another, and before a revoke forgets.

Faust's ``Consumer.commit`` lets one commit run at a time: a commit asked for while another
is storing waits for that one and then returns without committing. The periodic commit
(every ``broker_commit_interval``) makes that collision common, and it matters most for the
commit that ends a revoke or a stop (Faust's ``wait_empty``): the offsets acked while the
periodic commit was storing are then never committed, and the partition's next holder
(this worker after a rebalance, or another member) processes them again. A worker
restarted after a crash meets two generations in a row (the dead member's lease expires
after it joined), so the transport's own tests saw that replay.

Faust's ``Consumer.on_partitions_revoked`` also forgets the acks of the revoked partitions
before the app's callback stops the flow, waits for in-flight messages and commits, so
that commit stores only what was acked after it began: every rebalance had the partitions'
next holder process a commit interval's worth again (~200 messages in
``test_a_second_worker_shares_the_partitions_and_takes_them_at_once_on_a_clean_stop``).
The acks are committed first here.
"""

from __future__ import annotations

import asyncio

from faust.transport import consumer as base
from faust.types import TP
from faust.types.transports import TPorTopicSet


class QueuedCommits(base.Consumer):
    """A Faust consumer whose ``commit`` waits its turn instead of giving up, and whose
    revoke commits what was acked before forgetting it."""

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Commit what was acked (leases still held), then Faust's revoke."""
        await self.commit()
        await super().on_partitions_revoked(revoked)

    async def commit(
        self, topics: TPorTopicSet | None = None, start_new_transaction: bool = True
    ) -> bool:
        """Commit the offsets acked so far, after any commit still storing (Faust's returns
        ``False`` at once then, leaving acks made meanwhile uncommitted).

        ``force_commit`` reads the acks when it starts, so waiting for the commit under way
        and then starting another (no ``await`` between the last check and claiming the
        turn) covers every ack made before this call.
        """
        while (running := self._commit_fut) is not None:
            # Its committer clears ``_commit_fut`` and then resolves it; ``wait`` never
            # raises (a cancelled one too) and the ``sleep`` lets that committer run.
            await asyncio.wait({running})
            await asyncio.sleep(0)
        return await super().commit(topics, start_new_transaction)
