"""Commits that run one after another, each covering what was acked before it started.

Faust's ``Consumer.commit`` lets one commit run at a time: a commit asked for while another
is storing waits for that one and then returns without committing. The periodic commit
(every ``broker_commit_interval``) makes that collision common, and it matters most for the
commit that ends a revoke or a stop (Faust's ``wait_empty``): the offsets acked while the
periodic commit was storing are then never committed, and the partition's next holder
(this worker after a rebalance, or another member) processes them again. A worker
restarted after a crash meets two generations in a row (the dead member's lease expires
after it joined), so the transport's own tests saw that replay.
"""

from __future__ import annotations

import asyncio

from faust.transport import consumer as base
from faust.types.transports import TPorTopicSet


class QueuedCommits(base.Consumer):
    """A Faust consumer whose ``commit`` waits its turn instead of giving up."""

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
