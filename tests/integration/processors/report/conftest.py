"""Fixtures of the report tests: a running SMTP server on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.processors.report.mail import SmtpServer
from tests.support.servers import free_port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd), started."""
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()
