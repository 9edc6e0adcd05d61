"""Helpers of the report tests: a real SMTP server (aiosmtpd), users, a session and its map."""

from __future__ import annotations

import asyncio
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import psycopg
from aiosmtpd.controller import Controller

from mindhit.accounts import create_user
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, SessionPage

__all__ = ["Inbox", "SmtpServer", "built_session", "reader"]


class Inbox:
    """Every message the SMTP server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``."""
        return [m for m in self.messages if m["To"] == address]

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        """Wait until at least ``count`` messages arrived."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.05)


class SmtpServer:
    """An aiosmtpd server on ``port`` that a test can start late (an SMTP outage)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """Plain SMTP, said explicitly (this test server offers no STARTTLS)."""
        return f"smtp+insecure://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def built_session(
    user_id: str, session_id: str | None = None
) -> tuple[SessionClosed, MindmapBuilt]:
    """A one-page closed session of ``user_id`` and its mind map."""
    page = SessionPage(
        url_hash="h",
        url="https://a.example/x",
        title="Black holes",
        domain="a.example",
        dwell_ms=90_000,
    )
    closed = SessionClosed(
        user_id=user_id,
        session_id=session_id or str(uuid.uuid4()),
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


async def reader(apg: psycopg.AsyncConnection[Any], *, reports: bool) -> tuple[str, str]:
    """A new user (confirmed address) with email reports on or off: ``(user_id, email)``."""
    email = f"reader-{uuid.uuid4().hex[:8]}@example.org"
    user = await create_user(apg, email, email_confirmed=True)
    await apg.execute(
        "UPDATE user_settings SET email_reports = %s WHERE user_id = %s", (reports, user.user_id)
    )
    return str(user.user_id), email
