"""Session reports reach a real SMTP server (aiosmtpd) for users who opted in, and only them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller

from mindhit.accounts import create_user
from mindhit.settings import Settings
from processors.report import reporter_from_settings
from processors.report.hook import REPORTS
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, SessionPage
from tests.support.servers import free_port as _free_port

pytestmark = pytest.mark.integration


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _built(user_id: str) -> tuple[SessionClosed, MindmapBuilt]:
    page = SessionPage(
        url_hash="h",
        url="https://a.example/x",
        title="Black holes",
        domain="a.example",
        dwell_ms=90_000,
    )
    closed = SessionClosed(
        user_id=user_id,
        session_id=str(uuid.uuid4()),
        started_ts=1_764_151_200_000,
        stopped_ts=1_764_151_500_000,
        active_ms=90_000,
        page_count=1,
        domain_count=1,
        pages=[page],
    )
    leaf = MindmapNode(label="Black holes", weight_ms=90_000, url=page.url, url_hash="h")
    root = MindmapNode(
        label="Astronomy",
        weight_ms=90_000,
        children=[MindmapNode(label="Stars", weight_ms=90_000, children=[leaf])],
    )
    return closed, MindmapBuilt(
        user_id=user_id, session_id=closed.session_id, root=root, provider="local", built_ts=0
    )


async def _user(apg: psycopg.AsyncConnection[Any], *, reports: bool) -> tuple[str, str]:
    email = f"reader-{uuid.uuid4().hex[:8]}@example.org"
    user = await create_user(apg, email)
    await apg.execute(
        "UPDATE user_settings SET email_reports = %s WHERE user_id = %s", (reports, user.user_id)
    )
    return str(user.user_id), email


async def test_opted_in_user_receives_the_report(
    smtp: tuple[_Inbox, int], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    inbox, port = smtp
    user_id, email = await _user(apg, reports=True)
    settings = Settings.from_env(
        {}, smtp_url=f"smtp://127.0.0.1:{port}", public_url="https://mh.example"
    )
    reporter = reporter_from_settings(settings, database_url)
    assert reporter is not None
    closed, built = _built(user_id)
    await reporter(closed, built)
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == email and "reports@mindhit.local" in message["From"]
    assert message["Subject"].startswith("Your session: Astronomy")
    html = message.get_body(("html",))
    assert html is not None
    body = html.get_content()
    assert "Black holes" in body and f"https://mh.example/sessions/{closed.session_id}" in body


async def test_opted_out_user_gets_nothing(
    smtp: tuple[_Inbox, int], apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    inbox, port = smtp
    user_id, _ = await _user(apg, reports=False)
    reporter = reporter_from_settings(
        Settings.from_env({}, smtp_url=f"smtp://127.0.0.1:{port}"), database_url
    )
    assert reporter is not None
    await reporter(*_built(user_id))
    assert inbox.messages == []


async def test_unreachable_smtp_server_never_raises(
    apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    user_id, _ = await _user(apg, reports=True)
    reporter = reporter_from_settings(
        Settings.from_env({}, smtp_url=f"smtp://127.0.0.1:{_free_port()}"), database_url
    )
    assert reporter is not None
    failed = REPORTS.labels("failed")._value.get()
    await asyncio.wait_for(reporter(*_built(user_id)), timeout=20)
    assert REPORTS.labels("failed")._value.get() == failed + 1


def test_reports_are_off_without_an_smtp_url_and_bad_urls_fail_at_start(database_url: str) -> None:
    assert reporter_from_settings(Settings.from_env({}), database_url) is None
    with pytest.raises(ValueError, match="smtp://host:port"):
        reporter_from_settings(Settings.from_env({}, smtp_url="mail.example:25"), database_url)
