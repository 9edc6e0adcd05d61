"""Attack 3: hijacking a session by its id (issue 12).

An attacker who learns a victim's session id posts events carrying it: a
``session.started`` that relabels it and backdates it to 1970, a ``session.stopped``,
a tab event. Through the real gateway, processors and projector: each of those events
is refused on its own (field ``session_id``) while the attacker's own event in the same
upload is kept, stopping the session through the API is a 404, and the victim's
session keeps its title, start and status. Once the session is projected its owner
key lives only hours (settled); after it has expired the session's row keeps it the
victim's: the attacker is refused the same and the key comes back naming the victim.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from mindhit.accounts import create_token, create_user
from mindhit.redis_client import connect_redis_sync
from mindhit.session_owners import DEFAULT_SETTLED_TTL_S, owner_key
from schema.ids import uuid7
from tests.e2e.pipeline import Pipeline, running_pipeline
from tests.security._web import ARTIFACTS, unique_email

pytestmark = pytest.mark.integration

T = TypeVar("T")
ROW = "SELECT user_id::text, label, started_at, status FROM sessions WHERE session_id = %s"


def make_device(database_url: str, tag: str) -> tuple[str, str]:
    """A new account and a device token for it: ``(user_id, token)``."""

    async def go() -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            user = await create_user(conn, unique_email(tag))
            _, secret = await create_token(conn, user.user_id, "laptop")
            return user.user_id, secret

    return asyncio.run(go())


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = 90.0) -> T:
    """Poll ``probe`` until it returns something, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def row_of(database_url: str, session_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute(ROW, (session_id,)).fetchone()


def upload(pipeline: Pipeline, token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    answer = httpx.post(
        f"{pipeline.gateway_url}/v1/events",
        json={"batch_id": uuid7(), "client_id": "ext-1", "events": events},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def event(kind: str, session_id: str, seq: int, ts: int, **fields: Any) -> dict[str, Any]:
    envelope = {"event_id": uuid7(), "client_id": "ext-1", "session_id": session_id}
    return envelope | {"type": kind, "seq": seq, "ts": ts} | fields


def test_another_users_session_id_cannot_relabel_backdate_or_stop_it(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    victim_id, victim = make_device(database_url, "victim")
    _attacker_id, attacker = make_device(database_url, "attacker")
    with running_pipeline(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path / "data",
        logs=ARTIFACTS / "session-hijack",
    ) as pipeline:
        now = int(time.time() * 1000)
        theirs = uuid7(now)
        url = "https://travel.example/lisbon"
        upload(
            pipeline,
            victim,
            [
                event("session.started", theirs, 1, now, label="Trip planning"),
                event("tab.activated", theirs, 2, now + 10, tab_id=1, window_id=1, url=url),
            ],
        )
        before = wait_for(
            lambda: row_of(database_url, theirs), "the victim's session to be projected"
        )
        assert before[1] == "Trip planning" and before[3] == "recording"

        mine = uuid7()
        result = upload(
            pipeline,
            attacker,
            [
                event("session.started", theirs, 1, 1_000, label="pwned"),
                event("tab.activated", theirs, 2, 2_000, tab_id=1, window_id=1, url=url),
                event("session.started", mine, 3, now, label="attacker's own"),
                event("session.stopped", theirs, 4, now + 20),
            ],
        )
        assert result["accepted"] == 1
        refused = [(r["index"], r["field"]) for r in result["rejected"]]
        assert refused == [(0, "session_id"), (1, "session_id"), (3, "session_id")]
        assert all("another user" in r["reason"] for r in result["rejected"])
        stop = httpx.post(
            f"{pipeline.gateway_url}/v1/sessions/{theirs}/stop",
            headers={"Authorization": f"Bearer {attacker}"},
            timeout=30,
        )
        assert stop.status_code == 404

        # The attacker's own session is projected: the pipeline has folded that upload.
        wait_for(lambda: row_of(database_url, mine), "the attacker's own session")
        assert row_of(database_url, theirs) == before

        client = connect_redis_sync(redis_url)
        key = owner_key(pipeline.env["MINDHIT_KEY_PREFIX"], theirs)
        wait_for(
            lambda: 0 < client.ttl(key) <= DEFAULT_SETTLED_TTL_S,
            "the victim's owner key to be settled by the projector",
        )
        client.delete(key)  # what its expiry leaves: the row is the only record
        again = upload(
            pipeline,
            attacker,
            [event("session.started", theirs, 5, 1_000, label="pwned after expiry")],
        )
        assert again["accepted"] == 0
        assert [r["field"] for r in again["rejected"]] == ["session_id"]
        assert client.get(key) == victim_id.encode()
        stop = httpx.post(
            f"{pipeline.gateway_url}/v1/sessions/{theirs}/stop",
            headers={"Authorization": f"Bearer {attacker}"},
            timeout=30,
        )
        assert stop.status_code == 404
        assert row_of(database_url, theirs) == before
        client.close()
