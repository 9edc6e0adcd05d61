"""Session owner keys live only while the session is in flight; the owner never changes.

A new session's key lives :data:`~mindhit.session_owners.PENDING_TTL_S` until the
projector has committed its row, then the settled TTL (2 × the idle close); a key that
has expired is rebuilt from PostgreSQL (the row, or a deleted session's tombstone) for
its owner, so an attacker who sends the id after the expiry gets nothing, and one who
sends it while the projector is behind finds the key still there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.session_owners import (
    PENDING_TTL_S,
    claim_sessions,
    forget_user_sessions,
    owner_key,
    recorded_owners,
    session_keys_key,
    settled_ttl_s,
)
from mindhit.session_stops import StopNote, note_stopped, stop_note_key, stopped_key
from mindhit.settings import Settings
from projector.forget import forget_user
from schema.events import SessionStarted
from schema.ids import uuid7

from .conftest import fold_all
from .test_session_owner import _raw

pytestmark = pytest.mark.integration

NOW = int(time.time() * 1000)


def _durable(database_url: str) -> Any:
    """The gateway's lookup of durable owners, on its own connection per call."""

    async def lookup(session_ids: Sequence[str]) -> Mapping[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await recorded_owners(conn, session_ids)

    return lookup


def _start(session_id: str, label: str = "Trip") -> SessionStarted:
    return SessionStarted(
        event_id=uuid7(), client_id="ext", session_id=session_id, seq=1, ts=NOW, label=label
    )


async def _claim(redis: aioredis.Redis, settings: Settings, user: str, session_id: str) -> str:
    owners = await claim_sessions(
        redis,
        settings.key_prefix,
        user,
        [session_id],
        legacy=_durable(settings.database_url),
        settled_ttl=settled_ttl_s(settings),
    )
    return owners[session_id]


async def test_a_key_lives_until_projected_then_expires_and_the_row_keeps_the_owner(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    fast = msgspec.structs.replace(settings, session_idle_close_s=0.5)  # settled TTL: 1 s
    victim, attacker = str(uuid.uuid4()), str(uuid.uuid4())
    session_id = uuid7(NOW)
    key = owner_key(settings.key_prefix, session_id)
    assert await _claim(aredis, fast, victim, session_id) == victim
    await _raw(aredis, fast, (victim, [_start(session_id)]))
    # The projector is behind: the key keeps its pending life, the attacker is refused.
    assert await aredis.ttl(key) > PENDING_TTL_S - 60
    assert await _claim(aredis, fast, attacker, session_id) == victim
    await fold_all(fast, aredis, pg)
    assert 0 < await aredis.ttl(key) <= settled_ttl_s(fast)
    listed = await aredis.zrange(session_keys_key(settings.key_prefix, victim), 0, -1)
    assert listed == [session_id.encode()]
    await asyncio.sleep(settled_ttl_s(fast) + 0.5)
    assert await aredis.exists(key) == 0  # really expired
    assert await aredis.exists(session_keys_key(settings.key_prefix, victim)) == 0
    # After the expiry: PostgreSQL answers, the key comes back naming the victim.
    assert await _claim(aredis, fast, attacker, session_id) == victim
    assert await aredis.get(key) == victim.encode()
    assert 0 < await aredis.ttl(key) <= settled_ttl_s(fast)
    # The victim uploads again: theirs, and the attacker's later events still refused.
    assert await _claim(aredis, fast, victim, session_id) == victim
    assert await _claim(aredis, fast, attacker, session_id) == victim
    stop = StopNote("user", 1)  # the server stopped it
    await note_stopped(aredis, settings.key_prefix, victim, session_id, 3600, stop)
    await aredis.set(stopped_key(settings.key_prefix, session_id), b"1", ex=60)  # an older build's
    assert await forget_user_sessions(aredis, settings.key_prefix, victim) >= 1
    assert await aredis.exists(key) == 0
    assert await aredis.exists(stopped_key(settings.key_prefix, session_id)) == 0  # erased too


async def test_a_deleted_sessions_id_stays_its_owners_after_the_key_expired(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    victim, attacker = str(uuid.uuid4()), str(uuid.uuid4())
    session_id = uuid7(NOW)
    pg.execute(
        "INSERT INTO erased_sessions (user_id, session_id, reason) VALUES (%s, %s, 'user request')",
        (victim, session_id),
    )
    pg.commit()
    assert await _claim(aredis, settings, attacker, session_id) == victim
    key = owner_key(settings.key_prefix, session_id)
    assert 0 < await aredis.ttl(key) <= settled_ttl_s(settings)


async def test_settling_never_shortens_another_users_key(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    victim, attacker = str(uuid.uuid4()), str(uuid.uuid4())
    session_id = uuid7(NOW)
    assert await _claim(aredis, settings, victim, session_id) == victim
    # An entry that bypassed the gateway: the attacker's event of the victim's session
    # reaches the projector first; its row is the attacker's, not the key's owner.
    await _raw(aredis, settings, (attacker, [_start(session_id, "pwned")]))
    await fold_all(settings, aredis, pg)
    key = owner_key(settings.key_prefix, session_id)
    assert await aredis.get(key) == victim.encode()
    assert await aredis.ttl(key) > PENDING_TTL_S - 60


async def test_an_erasure_deletes_the_stop_notes_of_sessions_whose_keys_expired(
    settings: Settings, aredis: aioredis.Redis
) -> None:
    # A stop note says when the user's session ended: their data. Its owner key long
    # expired (a week-old idle close), the erasure still finds it by the user's id.
    user, session_id = str(uuid.uuid4()), uuid7(NOW)
    prefix = settings.key_prefix
    await note_stopped(aredis, prefix, user, session_id, 3600, StopNote("idle", NOW))
    assert await aredis.exists(owner_key(prefix, session_id)) == 0
    await forget_user(aredis, settings, user)
    assert await aredis.exists(stop_note_key(prefix, user, session_id)) == 0
    # No key names the session without the user (an erasure could not find it).
    assert await aredis.exists(stopped_key(prefix, session_id)) == 0
