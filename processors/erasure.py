"""What the processors forget when a user erases their data (``user.erased``).

Two things hold a user's data on this side of the log: their fold state (open
visits, per partition) and the content they brought in (page texts, URL versions
and enrichments in the content store). Both go.
"""

from __future__ import annotations

from mindhit.logs import get_logger
from processors.agents.mindmap import OnErased
from processors.content import ContentStore
from processors.state import StateStore

__all__ = ["user_eraser"]

log = get_logger(__name__)


def user_eraser(states: StateStore, content: ContentStore) -> OnErased:
    """The ``on_erased`` hook of the mind-map handler: drop state, then content."""

    async def erase(partition: int, user_id: str) -> None:
        await states.erase(partition, user_id)
        removed = await content.erase_user(user_id)
        log.info("user_data_erased", user_id=user_id, content_keys=removed)

    return erase
