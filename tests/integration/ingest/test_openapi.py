"""The served OpenAPI document is accurate: schemathesis drives a real ``mindhit gateway``.

The gateway runs as a subprocess (the real CLI, uvicorn, uvloop) against the test
Redis and PostgreSQL, with its own key prefix; requests carry a real device token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mindhit.accounts import create_token, create_user
from mindhit.redis_client import connect_redis_sync
from schema.ids import uuid7
from tests.conftest import KEY_PREFIX
from tests.support.servers import free_port as _free_port

pytestmark = pytest.mark.integration


class RunningGateway:
    """A ``mindhit gateway`` subprocess and a token it accepts."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


async def _token(database_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        user = await create_user(conn, f"{uuid7()}@example.com")
        _, secret = await create_token(conn, user.user_id, "schemathesis")
        return secret


@pytest.fixture(scope="module")
def gateway(redis_url: str, database_url: str) -> Iterator[RunningGateway]:
    import asyncio

    prefix = f"{KEY_PREFIX}-{uuid.uuid4().hex[:10]}"
    port = _free_port()
    env = os.environ | {
        "MINDHIT_REDIS_URL": redis_url,
        "MINDHIT_DATABASE_URL": database_url,
        "MINDHIT_KEY_PREFIX": prefix,
        "MINDHIT_LOG_FORMAT": "json",
        "MINDHIT_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mindhit.cli", "gateway", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"gateway did not start: {process.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.1)
    try:
        yield RunningGateway(url, asyncio.run(_token(database_url)))
    finally:
        process.terminate()
        process.wait(10)
        client = connect_redis_sync(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


OPERATIONS = [
    ("/v1/events", "POST"),
    ("/v1/sessions", "POST"),
    ("/v1/sessions/{session_id}/stop", "POST"),
    ("/healthz", "GET"),
    ("/readyz", "GET"),
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_answer_matches_the_openapi_document(
    gateway: RunningGateway, path: str, method: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/schema/openapi.json")
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {gateway.token}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers)

    check()


def test_the_document_describes_the_upload_and_its_security(gateway: RunningGateway) -> None:
    document = httpx.get(f"{gateway.url}/schema/openapi.json").json()
    operation = document["paths"]["/v1/events"]["post"]
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/EventBatch"
    assert set(operation["responses"]) >= {"202", "400", "401", "403", "413", "503"}
    assert operation["security"] == [{"deviceToken": []}]
    scheme = document["components"]["securitySchemes"]["deviceToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    event_types = document["components"]["schemas"]["EventBatch"]["properties"]["events"]
    assert len(event_types["items"]["anyOf"]) == 9
