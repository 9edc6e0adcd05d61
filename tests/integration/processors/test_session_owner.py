"""The mind-map stage changes only its owner's sessions: no map, no status for another's."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from mindhit.session_owners import claim_sessions
from processors.agents.mindmap import MindmapHandler
from processors.ai.local import LocalProvider
from processors.content import ContentStore
from schema.derived import SessionClosed
from schema.ids import uuid7
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _closed(user_id: str, session_id: str) -> SessionClosed:
    return SessionClosed(
        user_id=user_id,
        session_id=session_id,
        started_ts=1_764_151_200_000,
        stopped_ts=1_764_152_400_000,
        active_ms=0,
        page_count=0,
        domain_count=0,
        pages=[],
    )


async def test_a_closed_session_of_another_users_session_gets_no_map_and_no_status(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    emitted: list[Any] = []

    async def emit(topic: str, partition: int, value: bytes) -> None:
        emitted.extend(decode_derived_entry(value).events)

    victim, attacker, session_id = str(uuid7()), str(uuid7()), uuid7()
    await claim_sessions(aredis, key_prefix, victim, [session_id])
    handler = MindmapHandler(ContentStore(aredis, key_prefix), LocalProvider(), emit, lambda: 5)
    await handler.handle(
        0, encode_derived_entry(DerivedEntry(events=[_closed(attacker, session_id)]))
    )
    assert emitted == []
    await handler.handle(
        0, encode_derived_entry(DerivedEntry(events=[_closed(victim, session_id)]))
    )
    assert emitted and {e.user_id for e in emitted} == {victim}
