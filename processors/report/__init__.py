"""Session reports by email: when a mind map is built and the user opted in, mail it.

:func:`processors.report.hook.reporter_from_settings` gives the ``on_built`` callback the
mind-map agent calls; rendering (:mod:`.render`) is pure, sending (:mod:`.mailer`) and the
recipient lookup (:mod:`.recipients`) are the adapters. A failed report is logged and
counted, never raised: email must not hold up the pipeline. The report stays in the
outbox (:mod:`.outbox`) until it is finished, so a crash or an SMTP outage delays it
instead of losing it (delivery is at least once).
"""

from __future__ import annotations

from processors.report.hook import SessionReporter, reporter_from_settings
from processors.report.outbox import OutboxRecord, ReportOutbox
from processors.report.render import ReportEmail, render_report

__all__ = [
    "OutboxRecord",
    "ReportEmail",
    "ReportOutbox",
    "SessionReporter",
    "render_report",
    "reporter_from_settings",
]
