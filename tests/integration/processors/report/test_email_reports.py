"""Session reports reach a real SMTP server (aiosmtpd) for users who opted in, and only them."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from mindhit.settings import Settings
from processors.report import reporter_from_settings
from processors.report.hook import REPORTS
from tests.integration.processors.report.mail import SmtpServer, built_session, reader
from tests.support.servers import free_port as _free_port

pytestmark = pytest.mark.integration


async def test_opted_in_user_receives_the_report(
    smtp: SmtpServer, apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    user_id, email = await reader(apg, reports=True)
    settings = Settings.from_env({}, smtp_url=smtp.url, public_url="https://mh.example")
    reporter = reporter_from_settings(settings, database_url)
    assert reporter is not None
    closed, built = built_session(user_id)
    assert await reporter(closed, built) is True
    assert len(smtp.inbox.messages) == 1
    message = smtp.inbox.messages[0]
    assert message["To"] == email and "reports@mindhit.local" in message["From"]
    assert message["Subject"].startswith("Your session: Astronomy")
    html = message.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert "Black holes" in body and f"https://mh.example/sessions/{closed.session_id}" in body


async def test_opted_out_user_gets_nothing(
    smtp: SmtpServer, apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    user_id, _ = await reader(apg, reports=False)
    reporter = reporter_from_settings(Settings.from_env({}, smtp_url=smtp.url), database_url)
    assert reporter is not None
    assert await reporter(*built_session(user_id)) is True  # finished: nothing to send
    assert smtp.inbox.messages == []


async def test_unreachable_smtp_server_never_raises_and_says_to_retry(
    apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    user_id, _ = await reader(apg, reports=True)
    reporter = reporter_from_settings(
        Settings.from_env({}, smtp_url=f"smtp://127.0.0.1:{_free_port()}"), database_url
    )
    assert reporter is not None
    failed = REPORTS.labels("failed")._value.get()
    assert await asyncio.wait_for(reporter(*built_session(user_id)), timeout=20) is False
    assert REPORTS.labels("failed")._value.get() == failed + 1


def test_reports_are_off_without_an_smtp_url_and_bad_urls_fail_at_start(database_url: str) -> None:
    assert reporter_from_settings(Settings.from_env({}), database_url) is None
    with pytest.raises(ValueError, match="smtp://host:port"):
        reporter_from_settings(Settings.from_env({}, smtp_url="mail.example:25"), database_url)
