"""Attack 7: making MindHit mail arbitrary people through the sign-up address.

The real dashboard process mails through a real SMTP server (aiosmtpd); session reports
go through the real reporter of the processors. Sign-up takes exactly one address in one
canonical form, and no report goes to an address nobody confirmed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage

import psycopg
import pytest

from mindhit.settings import Settings
from processors.report import reporter_from_settings
from tests.integration.processors.report.mail import SmtpServer, built_session
from tests.security._web import Browser, WebServer, running_web, unique_email
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server every mail of this module goes to."""
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str, smtp: SmtpServer) -> Iterator[WebServer]:
    """The dashboard, mailing through ``smtp`` (plain SMTP, said explicitly in the URL)."""
    with running_web(redis_url, database_url, MINDHIT_SMTP_URL=smtp.url) as server:
        yield server


def _mail_to(smtp: SmtpServer, address: str, timeout_s: float = 30.0) -> EmailMessage:
    deadline = time.monotonic() + timeout_s
    while not smtp.inbox.to(address):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no mail to {address}")
        time.sleep(0.1)
    return smtp.inbox.to(address)[-1]


def _user_id(database_url: str, email: str) -> str | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT user_id::text FROM users WHERE lower(email) = lower(%s)", (email,)
        ).fetchone()
    return None if row is None else str(row[0])


def _report_for(smtp: SmtpServer, database_url: str, user_id: str) -> bool:
    """Run the processors' real reporter for one session of ``user_id``."""
    settings = Settings.from_env({}, smtp_url=smtp.url, public_url="https://mh.example")
    reporter = reporter_from_settings(settings, database_url)
    assert reporter is not None
    return asyncio.run(reporter(*built_session(user_id)))


@pytest.mark.parametrize(
    "field",
    [
        "victim-a@x.test,victim-b@y.test",
        "victim-a@x.test;victim-b@y.test",
        "victim-a@x.test victim-b@y.test",
        "Victim <victim-a@x.test>",
        "victim-a@x.test\r\nBcc: victim-b@y.test",
    ],
)
def test_sign_up_takes_exactly_one_address(web: WebServer, database_url: str, field: str) -> None:
    attacker = Browser(web.url, source="127.0.0.6")
    answer = attacker.sign_up(field)
    assert answer.status_code == 400
    assert "one email address" in answer.text or "spaces" in answer.text
    assert _user_id(database_url, "victim-a@x.test") is None
    assert attacker.me().status_code == 401


def test_another_spelling_of_an_address_is_the_same_account(web: WebServer) -> None:
    tag = unique_email("zoe").split("@")[0]
    owner = Browser(web.url, source="127.0.0.7")
    assert owner.sign_up(f"{tag.upper()}@Example.TEST").status_code == 303
    assert owner.me().json()["email"] == f"{tag}@example.test"  # one canonical form

    attacker = Browser(web.url, source="127.0.0.8")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in tag)
    taken = attacker.sign_up(f"{fullwidth}＠ｅｘａｍｐｌｅ.test")  # NFKC: the same address
    assert taken.status_code == 400 and "already exists" in taken.text


def test_reports_are_mailed_only_to_a_confirmed_address(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    victim_address = unique_email("victim")
    attacker = Browser(web.url, source="127.0.0.9")
    assert attacker.sign_up(victim_address).status_code == 303
    assert (
        attacker.form("/settings", {"idle_threshold_s": "60", "email_reports": "on"}).status_code
        == 303
    )
    squatted = _user_id(database_url, victim_address)
    assert squatted is not None
    # The victim gets one mail: the confirmation link, to them alone. It is sent after the
    # sign-up answered (in the background), so it is awaited before counting mails: under
    # load it used to land after the count and pass for a report.
    mail = _mail_to(smtp, victim_address)
    assert mail["To"] == victim_address and mail.get_all("Cc") is None

    # A session of the attacker's account ends: its report is not mailed to the victim
    # (the reporter has sent whatever it sends when it returns).
    assert _report_for(smtp, database_url, squatted) is True  # finished: nothing owed
    assert [m["Subject"] for m in smtp.inbox.to(victim_address)] == [mail["Subject"]]

    # Opening the link without being signed in to that account confirms nothing.
    link = next(w for w in mail.get_content().split() if "/confirm-email?token=" in w)
    bystander = Browser(web.url, source="127.0.0.10")
    assert bystander.page(link.removeprefix(web.url)).status_code == 303  # sign in first
    token = link.split("token=")[1]
    refused = bystander.form("/confirm-email", {"token": token})
    assert refused.status_code in (303, 401)
    assert attacker.me().json()["email_confirmed"] is False
    assert _report_for(smtp, database_url, squatted) is True
    assert [m["Subject"] for m in smtp.inbox.to(victim_address)] == [mail["Subject"]]


def test_the_owner_confirms_with_the_mailed_link_and_then_gets_reports(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    address = unique_email("reader")
    owner = Browser(web.url, source="127.0.0.11")
    assert owner.sign_up(address).status_code == 303
    assert "not confirmed" in owner.page("/settings").text
    link = next(w for w in _mail_to(smtp, address).get_content().split() if "token=" in w)
    page = owner.page(link.removeprefix(web.url))
    assert page.status_code == 200 and "Confirm my address" in page.text
    done = owner.form("/confirm-email", {"token": link.split("token=")[1]})
    assert done.status_code == 200 and 'id="confirmed"' in done.text
    assert owner.me().json()["email_confirmed"] is True
    again = owner.form("/confirm-email", {"token": link.split("token=")[1]})
    assert again.status_code == 400  # a link works once

    owner.form("/settings", {"idle_threshold_s": "60", "email_reports": "on"})
    user_id = _user_id(database_url, address)
    assert user_id is not None and _report_for(smtp, database_url, user_id) is True
    assert any(m["Subject"].startswith("Your session") for m in smtp.inbox.to(address))
