"""``mindhit user create`` / ``token create`` / ``token revoke`` give tokens the gateway honours."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import msgspec
import pytest
from click.testing import CliRunner, Result

from ingest.app import create_app
from mindhit.cli import cli
from mindhit.settings import Settings
from schema.ids import uuid7
from tests.integration.ingest.conftest import serve
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = pytest.mark.integration


async def test_a_token_from_the_cli_uploads_until_it_is_revoked(settings: Settings) -> None:
    runner = CliRunner(
        env={
            "MINDHIT_DATABASE_URL": settings.database_url,
            "MINDHIT_REDIS_URL": settings.redis_url,
            "MINDHIT_LOG_LEVEL": "warning",
        }
    )

    def invoke(*args: str) -> Awaitable[Result]:  # the CLI runs its own event loop
        return asyncio.to_thread(runner.invoke, cli, list(args))

    email = f"{uuid7()}@example.com"
    created = await invoke(*["user", "create", email])
    assert created.exit_code == 0, created.output
    again = await invoke(*["user", "create", email.upper()])
    assert again.exit_code != 0 and "already exists" in again.output
    issued = await invoke(*["token", "create", "--user", email, "--device", "laptop"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert token.startswith("mh_")
    headers = {"Authorization": f"Bearer {token}"}
    body = upload_body(event_dicts(3))
    async with serve(create_app(settings)) as client:
        assert (await client.post("/v1/events", content=body, headers=headers)).status_code == 202
    listed = await invoke(*["token", "list", "--user", email])
    assert "laptop" in listed.output and "active" in listed.output
    revoked = await invoke(*["token", "revoke", "--user", email, "laptop"])
    assert revoked.exit_code == 0 and "revoked 1" in revoked.output
    async with serve(create_app(settings)) as client:
        answer = await client.post("/v1/events", content=body, headers=headers)
    assert answer.status_code == 403
    assert msgspec.json.decode(answer.content)["detail"] == "this device token was revoked"
    missing = await invoke(*["token", "revoke", "--user", email, "laptop"])
    assert missing.exit_code != 0 and "no active token" in missing.output
