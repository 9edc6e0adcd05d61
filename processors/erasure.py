"""What the processors forget when a user erases their data (``user.erased``).

Three things hold a user's data on this side of the log: their fold state (open
visits, per partition), the content they brought in (page texts, URL versions
and enrichments in the content store) and, with reports on, the session reports
still owed to them (the report outbox of their partition). All go.
"""

from __future__ import annotations

from mindhit.logs import get_logger
from processors.agents.mindmap import OnErased
from processors.content import ContentStore
from processors.report.outbox import ReportOutbox
from processors.state import StateStore

__all__ = ["user_eraser"]

log = get_logger(__name__)


def user_eraser(
    states: StateStore, content: ContentStore, outbox: ReportOutbox | None = None
) -> OnErased:
    """The ``on_erased`` hook of the mind-map handler: drop state, reports owed, then content.

    A report being sent at that moment may still go out, but its retry never comes
    back (:meth:`ReportOutbox.failed` only reschedules a record still present).
    """

    async def erase(partition: int, user_id: str) -> None:
        await states.erase(partition, user_id)
        reports = await outbox.erase_user(partition, user_id) if outbox is not None else 0
        removed = await content.erase_user(user_id)
        log.info("user_data_erased", user_id=user_id, content_keys=removed, reports=reports)

    return erase
