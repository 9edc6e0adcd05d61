"""Attack 7: making MindHit mail arbitrary people through the sign-up address, and
asking it whether an address has an account.

The real dashboard process mails through a real SMTP server (aiosmtpd); session reports
go through the real reporter of the processors. Sign-up takes exactly one address in one
canonical form and makes an account only through the link mailed to it, so nobody gets
an account on somebody else's address, and no report goes to an address nobody
confirmed. Its answer is the same whether or not the address has an account.
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


def _mail_to(
    smtp: SmtpServer, address: str, subject: str = "", timeout_s: float = 30.0
) -> EmailMessage:
    """The last mail to ``address`` (with ``subject``, when given), waited for."""
    deadline = time.monotonic() + timeout_s
    while not (found := [m for m in smtp.inbox.to(address) if subject in m["Subject"]]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no mail to {address} {subject!r}")
        time.sleep(0.1)
    return found[-1]


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


def _link_in(mail: EmailMessage, path: str) -> str:
    return next(w for w in mail.get_content().split() if f"{path}?token=" in w)


def _signed_up(web: WebServer, smtp: SmtpServer, browser: Browser, address: str) -> str:
    """Sign up as the address's owner: ask, then open the mailed link. The canonical address."""
    asked = browser.ask_sign_up(address)
    assert asked.status_code == 200 and 'id="finish-link"' not in asked.text  # mail only
    mail = _mail_to(smtp, address)
    assert browser.finish_sign_up(_link_in(mail, "/signup/finish")).status_code == 303
    return str(mail["To"])


def test_another_spelling_of_an_address_is_the_same_account(
    web: WebServer, smtp: SmtpServer
) -> None:
    tag = unique_email("zoe").split("@")[0]
    owner = Browser(web.url, source="127.0.0.7")
    asked = owner.ask_sign_up(f"{tag.upper()}@Example.TEST")
    assert asked.status_code == 200
    mail = _mail_to(smtp, f"{tag}@example.test")  # one canonical form
    assert owner.finish_sign_up(_link_in(mail, "/signup/finish")).status_code == 303
    assert owner.me().json()["email"] == f"{tag}@example.test"

    attacker = Browser(web.url, source="127.0.0.8")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in tag)
    taken = attacker.ask_sign_up(f"{fullwidth}＠ｅｘａｍｐｌｅ.test")  # NFKC: the same address
    assert taken.status_code == 200 and attacker.me().status_code == 401
    notice = _mail_to(smtp, f"{tag}@example.test", "You already have")
    assert "/signup/finish" not in notice.get_content()  # nothing to finish


def test_sign_up_does_not_tell_whether_an_address_has_an_account(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    victim = unique_email("known")
    _signed_up(web, smtp, Browser(web.url, source="127.0.0.16"), victim)
    attacker = Browser(web.url, source="127.0.0.17")
    stranger = unique_email("unknown")
    chosen = "the attacker's own password"
    answers = {a: attacker.ask_sign_up(a, chosen) for a in (victim, stranger)}
    seen = {
        a: (r.status_code, r.text.replace(a, "ADDRESS"), "set-cookie" in r.headers)
        for a, r in answers.items()
    }
    assert seen[victim] == seen[stranger]  # status, page and cookies: the same
    assert seen[victim][0] == 200 and not seen[victim][2]
    assert attacker.me().status_code == 401
    # Nor does trying the password chosen there tell: neither address lets it in.
    probe = Browser(web.url, source="127.0.0.18")
    tried = [probe.sign_in(a, chosen) for a in (victim, stranger)]
    assert [(r.status_code, "do not match" in r.text) for r in tried] == [(400, True)] * 2
    # Each owner learns what happened, from their mailbox only.
    assert _mail_to(smtp, victim, "You already have a MindHit account")
    assert _mail_to(smtp, stranger, "Finish creating your MindHit account")
    assert _user_id(database_url, stranger) is None  # no account until its link is used

    # Real input errors still say what is wrong.
    bad = attacker.ask_sign_up("not an address")
    assert bad.status_code == 400 and 'data-field="email"' in bad.text
    short = attacker.ask_sign_up(unique_email("short"), "short")
    assert short.status_code == 400 and 'data-field="password"' in short.text


def test_nobody_gets_an_account_on_someone_elses_address(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    victim_address = unique_email("victim")
    attacker = Browser(web.url, source="127.0.0.9")
    asked = attacker.ask_sign_up(victim_address)
    assert asked.status_code == 200 and attacker.me().status_code == 401
    assert _user_id(database_url, victim_address) is None
    # The victim gets one mail, to them alone: the link that would make the account. It is
    # sent after the sign-up answered (in the background), so it is awaited.
    mail = _mail_to(smtp, victim_address)
    assert mail["To"] == victim_address and mail.get_all("Cc") is None
    assert mail["Subject"] == "Finish creating your MindHit account"
    # Guessing links makes nothing either.
    guess = attacker.form("/signup/finish", {"token": "A" * 43})
    assert guess.status_code == 400 and _user_id(database_url, victim_address) is None


def test_an_address_owner_opening_a_link_someone_else_asked_for_gets_no_account_of_theirs(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    """Pre-hijacking: the attacker asks for an account on the victim's address with a
    password of the attacker's choosing; the victim opens the mailed link. Without that
    password it makes nothing (else the victim would use an account the attacker can
    sign in to), and the victim can still sign up with a password of their own."""
    victim = unique_email("prehijack")
    attacker = Browser(web.url, source="127.0.0.33")
    assert attacker.ask_sign_up(victim, "the attacker's password").status_code == 200
    planted = _link_in(_mail_to(smtp, victim), "/signup/finish")
    owner = Browser(web.url, source="127.0.0.34")
    refused = owner.finish_sign_up(planted, "my own password!")
    assert refused.status_code == 400 and 'data-field="password"' in refused.text
    assert owner.me().status_code == 401 and _user_id(database_url, victim) is None
    assert attacker.sign_in(victim, "the attacker's password").status_code == 400

    assert owner.ask_sign_up(victim, "my own password!").status_code == 200
    mine = [m for m in smtp.inbox.to(victim) if "/signup/finish" in m.get_content()]
    deadline = time.monotonic() + 30
    while len(mine) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        mine = [m for m in smtp.inbox.to(victim) if "/signup/finish" in m.get_content()]
    link = _link_in(mine[-1], "/signup/finish")
    assert owner.finish_sign_up(link, "my own password!").status_code == 303
    assert owner.me().json()["email"] == victim
    stranger = Browser(web.url, source="127.0.0.35")
    assert stranger.sign_in(victim, "the attacker's password").status_code == 400


def test_the_owner_finishes_with_the_mailed_link_and_then_gets_reports(
    web: WebServer, smtp: SmtpServer, database_url: str
) -> None:
    address = unique_email("reader")
    owner = Browser(web.url, source="127.0.0.11")
    asked = owner.ask_sign_up(address)
    assert asked.status_code == 200 and owner.me().status_code == 401
    link = _link_in(_mail_to(smtp, address), "/signup/finish")
    page = owner.page(link.removeprefix(web.url))  # a GET (a mail scanner) makes nothing
    assert page.status_code == 200 and "Create my account" in page.text
    assert _user_id(database_url, address) is None
    done = owner.finish_sign_up(link)
    assert done.status_code == 303 and done.headers["location"].startswith("/settings")
    assert owner.me().json()["email_confirmed"] is True  # the mailed link proved it
    again = Browser(web.url, source="127.0.0.19").finish_sign_up(link)
    assert again.status_code == 400  # a link works once

    owner.form("/settings", {"idle_threshold_s": "60", "email_reports": "on"})
    user_id = _user_id(database_url, address)
    assert user_id is not None and _report_for(smtp, database_url, user_id) is True
    assert any(m["Subject"].startswith("Your session") for m in smtp.inbox.to(address))
