"""The ``on_built`` callback: email the session report to users who turned reports on.

Failure policy: every error (database, rendering, SMTP, timeout) is logged and counted
under ``mindhit_reports_total{outcome}`` and swallowed, so the mind-map agent carries on;
the call answers False, which leaves the report in the outbox
(:mod:`processors.report.outbox`) for a later retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

from mindhit.logs import get_logger
from mindhit.settings import Settings
from processors.report.mailer import (
    SMTP_TIMEOUT_S,
    SmtpTarget,
    build_message,
    parse_smtp_url,
    report_message_id,
    send,
)
from processors.report.metrics import REPORTS
from processors.report.recipients import PostgresRecipients
from processors.report.render import render_report
from schema.derived import MindmapBuilt, SessionClosed

__all__ = ["REPORTS", "SessionReporter", "reporter_from_settings"]

log = get_logger(__name__)

Recipients = Callable[[str], Awaitable[str | None]]
Sender = Callable[[SmtpTarget, EmailMessage], Awaitable[None]]


class SessionReporter:
    """Sends one report per built mind map to the session's user, if they opted in."""

    def __init__(
        self,
        *,
        target: SmtpTarget,
        sender_address: str,
        public_url: str,
        recipients: Recipients,
        send_message: Sender = send,
    ) -> None:
        self._target = target
        self._from = sender_address
        self._public_url = public_url
        self._recipients = recipients
        self._send = send_message

    async def __call__(self, closed: SessionClosed, built: MindmapBuilt) -> bool:
        """Report one session; never raises.

        Steps: 1. look up the user's address (none when reports are off → done);
        2. render the report; 3. send it within the SMTP timeout; 4. count the outcome.

        Returns:
            True when the report is finished (sent, or not wanted), False when it
            failed and should be tried again later.
        """
        try:
            async with asyncio.timeout(2 * SMTP_TIMEOUT_S):
                recipient = await self._recipients(closed.user_id)
                if recipient is None:
                    REPORTS.labels("skipped").inc()
                    return True
                report = render_report(closed, built, public_url=self._public_url)
                message = build_message(
                    report,
                    sender=self._from,
                    recipient=recipient,
                    message_id=report_message_id(closed.session_id, built.built_ts, self._from),
                )
                await self._send(self._target, message)
        except Exception as exc:  # a report must never block or crash the pipeline
            REPORTS.labels("failed").inc()
            log.warning(
                "report.failed",
                session_id=closed.session_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        REPORTS.labels("sent").inc()
        log.info("report.sent", session_id=closed.session_id)
        return True


def reporter_from_settings(settings: Settings, database_url: str) -> SessionReporter | None:
    """The reporter for these settings, or ``None`` when ``smtp_url`` is empty (reports off).

    Args:
        settings: uses ``smtp_url``, ``smtp_from`` and ``public_url``.
        database_url: the resolved PostgreSQL holding the accounts tables.

    Raises:
        ValueError: ``smtp_url`` is set but malformed (fail at start-up, not per report).
    """
    if not settings.smtp_url:
        return None
    return SessionReporter(
        target=parse_smtp_url(settings.smtp_url),
        sender_address=settings.smtp_from,
        public_url=settings.public_url,
        recipients=PostgresRecipients(database_url),
    )
