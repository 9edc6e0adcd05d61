"""Nobody can fill Redis or take ingest down for everyone (issue 12, attack 8).

A real ``mindhit gateway`` with small quotas: an attacker's flood of uploads is refused
with 429, ``Retry-After`` and the quota's name, nothing of it reaches the log, and the
victim's uploads, sent in the middle of the flood, are all taken. A hundred rejected
events of a megabyte each leave the quarantine within its byte bound, every upload that
carried them still answered 202 for its good events.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import msgspec
import pytest

from mindhit.redis_client import connect_redis_sync
from schema.log import decode_raw_entry
from schema.topics import RAW_TOPIC, stream_key
from tests.security._gateway import GatewayServer, new_device, running_gateway
from tests.unit.ingest.factories import event_dicts, page_content, upload_body

pytestmark = [pytest.mark.integration]

PARTITIONS = 4


def _batch(client_id: str, first_seq: int, count: int = 3) -> bytes:
    events = event_dicts(count, client_id=client_id, first_seq=first_seq)
    return upload_body(events, client_id=client_id)


def _envelope(client_id: str, seq: int) -> dict[str, Any]:
    event = event_dicts(1, client_id=client_id, first_seq=seq)[0]
    return {k: event[k] for k in ("event_id", "client_id", "session_id", "seq", "ts")}


def _logged_events(gateway: GatewayServer, user_id: str) -> int:
    client = connect_redis_sync(gateway.redis_url)
    try:
        found = 0
        for partition in range(PARTITIONS):
            key = stream_key(gateway.prefix, RAW_TOPIC, partition)
            for _, fields in client.xrange(key):
                entry = decode_raw_entry(fields[b"v"])
                found += sum(len(u.events) for u in entry.uploads if u.user_id == user_id)
        return found
    finally:
        client.close()


def _refusal(answer: httpx.Response) -> tuple[int, str]:
    body: dict[str, Any] = answer.json()
    assert body["status_code"] == 429
    retry_after = int(answer.headers["retry-after"])
    assert retry_after >= 1
    return retry_after, str(body["field"])


def test_a_request_flood_gets_429_while_another_user_uploads(
    redis_url: str, database_url: str
) -> None:
    quotas = {"MINDHIT_QUOTA_REQUESTS_PER_S": "1", "MINDHIT_QUOTA_REQUEST_BURST": "5"}
    with running_gateway(redis_url, database_url, **quotas) as gateway:
        attacker, victim = new_device(database_url, "attacker"), new_device(database_url, "victim")
        began = time.monotonic()
        flood = []
        for i in range(30):
            flood.append(gateway.upload(attacker, _batch("attacker-1", 1 + 10 * i)))
            if i % 6 == 5:  # the victim, in the middle of the flood (5 uploads: its burst)
                mine = gateway.upload(victim, _batch("victim-1", 1 + 10 * i))
                assert mine.status_code == 202, mine.text
                assert mine.json()["accepted"] == 3
        elapsed = time.monotonic() - began

        taken = [a for a in flood if a.status_code == 202]
        refused = [a for a in flood if a.status_code != 202]
        assert flood[0].status_code == 202
        assert len(taken) <= 5 + math.ceil(elapsed * 1) + 1, (len(taken), elapsed)
        assert refused and {a.status_code for a in refused} == {429}
        assert {_refusal(a)[1] for a in refused} == {"quota.requests"}
        assert _logged_events(gateway, attacker.user_id) == 3 * len(taken)
        assert _logged_events(gateway, victim.user_id) == 3 * 5

        # Retry-After tells the truth: after waiting it out, the attacker may upload again
        time.sleep(_refusal(refused[-1])[0])
        again = gateway.upload(attacker, _batch("attacker-1", 1000))
        assert again.status_code == 202, again.text


def test_a_byte_flood_gets_429_naming_the_byte_quota(redis_url: str, database_url: str) -> None:
    quotas = {
        "MINDHIT_MAX_BODY_BYTES": str(256 * 1024),
        "MINDHIT_QUOTA_BYTE_BURST": str(256 * 1024),
        "MINDHIT_QUOTA_BYTES_PER_S": str(8 * 1024),
    }
    with running_gateway(redis_url, database_url, **quotas) as gateway:
        attacker, victim = new_device(database_url, "attacker"), new_device(database_url, "victim")

        def big(device_tag: str, seq: int) -> bytes:
            text = f"{device_tag} page {seq} " + "x" * 200_000
            event = page_content("https://big.example/a", text, **_envelope(device_tag, seq))
            return upload_body([event], client_id=device_tag)

        assert gateway.upload(attacker, big("attacker-1", 1)).status_code == 202
        second = gateway.upload(attacker, big("attacker-1", 2))
        assert second.status_code == 429, second.text
        retry_after, quota = _refusal(second)
        assert quota == "quota.bytes"
        assert retry_after >= 5  # ~140 KB short at 8 KiB/s (minus what refilled meanwhile)
        mine = gateway.upload(victim, big("victim-1", 1))
        assert mine.status_code == 202, mine.text
        assert _logged_events(gateway, attacker.user_id) == 1


def test_a_hundred_huge_rejected_events_stay_within_the_quarantine_byte_bound(
    redis_url: str, database_url: str
) -> None:
    bound = 64 * 1024
    settings = {
        "MINDHIT_QUARANTINE_MAX_BYTES": str(bound),
        "MINDHIT_QUOTA_REQUESTS_PER_S": "0",
        "MINDHIT_QUOTA_BYTES_PER_S": "0",
    }
    with running_gateway(redis_url, database_url, **settings) as gateway:
        attacker, victim = new_device(database_url, "attacker"), new_device(database_url, "victim")
        marker = "SECRET-PAGE-BODY"
        for i in range(100):
            good = event_dicts(1, client_id="attacker-1", first_seq=1 + 10 * i)[0]
            envelope = _envelope("attacker-1", 2 + 10 * i)
            # 1 MB of text: over the event's limit, so the event is rejected
            huge = page_content("https://huge.example/", f"{marker} {i} " * 50_000, **envelope)
            answer = gateway.upload(attacker, upload_body([good, huge], client_id="attacker-1"))
            assert answer.status_code == 202, answer.text
            result = answer.json()
            assert (result["accepted"], len(result["rejected"])) == (1, 1)
            assert result["rejected"][0]["field"] == "text"

        client = connect_redis_sync(gateway.redis_url)
        key = f"{gateway.prefix}:quarantine"
        try:
            used = int(client.memory_usage(key, samples=0) or 0)
            entries = client.xrange(key)
        finally:
            client.close()
        print(f"quarantine: {len(entries)} entries, {used} bytes (bound {bound})")
        assert 0 < used <= bound, used
        assert 0 < len(entries) < 100
        for _, fields in entries:
            assert len(fields[b"event"]) <= 512
            kept = msgspec.json.decode(fields[b"event"])
            assert kept["type"] == "page.content" and len(kept["text"]) < 100
            assert kept["text"].startswith(marker)  # the start of the text, never more

        # the full quarantine turns no good upload away
        mine = gateway.upload(victim, _batch("victim-1", 1))
        assert mine.status_code == 202 and mine.json()["accepted"] == 3
        assert _logged_events(gateway, attacker.user_id) == 100
