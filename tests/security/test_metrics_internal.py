"""Nobody learns what others read (issue 12, attack 10).

``/metrics`` is not served on the public ports of the gateway and the dashboard (the
ones the ingress routes to) but on internal ports of their own. And an upload of a page
text someone else already uploaded is answered exactly like an upload of a text nobody
has: same status, headers and body (batch ids aside), while the gateway's internal
metrics show it did take the "already known" path. (The victim's text is put into the
content store with the processors' own adapter, as their worker does after the upload:
a worker process here only added a way to fail under load.)
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from mindhit.redis_client import connect_redis
from processors.content import ContentStore
from tests.security._gateway import Device, GatewayServer, new_device, running_gateway
from tests.security._web import running_web
from tests.support.servers import free_port
from tests.unit.ingest.factories import event_dicts, page_content, upload_body

pytestmark = [pytest.mark.integration]


def _metrics(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)


def test_the_gateway_serves_metrics_only_on_its_internal_port(
    redis_url: str, database_url: str
) -> None:
    internal = free_port()
    with running_gateway(
        redis_url, database_url, MINDHIT_GATEWAY_METRICS_PORT=str(internal)
    ) as gateway:
        assert httpx.get(f"{gateway.url}/metrics").status_code == 404
        device = new_device(database_url, "user")
        body = upload_body(event_dicts(3, client_id="laptop-1"), client_id="laptop-1")
        assert gateway.upload(device, body).status_code == 202
        answer = _metrics(internal)
        assert answer.status_code == 200
        assert 'mindhit_gateway_batches_total{outcome="appended"} 1.0' in answer.text
        assert httpx.get(f"http://127.0.0.1:{internal}/v1/events").status_code == 404


def test_the_dashboard_serves_metrics_only_on_its_internal_port(
    redis_url: str, database_url: str
) -> None:
    internal = free_port()
    with running_web(redis_url, database_url, MINDHIT_WEB_METRICS_PORT=str(internal)) as web:
        assert httpx.get(f"{web.url}/login").status_code == 200
        assert httpx.get(f"{web.url}/metrics").status_code == 404
        answer = _metrics(internal)
        assert answer.status_code == 200
        assert 'mindhit_web_request_seconds_count{method="GET",route="/login"' in answer.text


def _page(device_tag: str, seq: int, text: str) -> bytes:
    event = event_dicts(1, client_id=device_tag, first_seq=seq)[0]
    envelope = {k: event[k] for k in ("event_id", "client_id", "session_id", "seq", "ts")}
    content = page_content("https://news.example/story", text, **envelope)
    return upload_body([content], client_id=device_tag)


def _seen(answer: httpx.Response) -> tuple[int, dict[str, str], str]:
    headers = {k: v for k, v in answer.headers.items() if k not in {"date"}}
    body = re.sub(r'"batch_id":"[^"]*"', '"batch_id":"-"', answer.text)
    return answer.status_code, headers, body


def _stored_by_processors(gateway: GatewayServer, text: str, user_id: str) -> None:
    """What the processors do with the victim's upload: store its text (their adapter)."""

    async def store() -> None:
        client = connect_redis(gateway.redis_url)
        try:
            content = ContentStore(client, gateway.prefix, ttl_s=30 * 86_400)
            await content.put_texts([(page_content("u", text)["content_hash"], text)], user_id)
            assert await content.has_text(page_content("u", text)["content_hash"])
        finally:
            await client.aclose()

    asyncio.run(store())


def _known_texts(port: int) -> float:
    found = re.search(r"^mindhit_gateway_known_texts_total (\S+)$", _metrics(port).text, re.M)
    return float(found.group(1)) if found else 0.0


def test_an_upload_answers_the_same_whether_or_not_another_user_sent_the_text(
    redis_url: str, database_url: str
) -> None:
    internal = free_port()
    with running_gateway(
        redis_url, database_url, MINDHIT_GATEWAY_METRICS_PORT=str(internal)
    ) as gateway:
        victim, attacker = new_device(database_url, "victim"), new_device(database_url, "attacker")
        read_by_victim = "Your appointment at the clinic is confirmed for Tuesday. " * 40
        read_by_nobody = "Your appointment at the dentist is confirmed for Friday. " * 40
        assert len(read_by_victim) == len(read_by_nobody)

        assert gateway.upload(victim, _page("victim-1", 1, read_by_victim)).status_code == 202
        _stored_by_processors(gateway, read_by_victim, victim.user_id)

        def probe(device: Device, seq: int, text: str) -> tuple[int, dict[str, str], str]:
            return _seen(gateway.upload(device, _page("attacker-1", seq, text)))

        known_before = _known_texts(internal)
        known = probe(attacker, 1, read_by_victim)
        # Not even the "already known" path ran (its timing would tell): the attacker
        # never held the text, so it is logged in full like one nobody read.
        assert _known_texts(internal) == known_before
        unknown = probe(attacker, 2, read_by_nobody)
        assert known == unknown
        assert known[0] == 202
        # The victim's own next visit of the page is sent by hash only.
        assert gateway.upload(victim, _page("victim-1", 2, read_by_victim)).status_code == 202
        assert _known_texts(internal) == known_before + 1
