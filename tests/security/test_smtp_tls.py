"""Mail is never sent in plain text unless the SMTP URL says so.

``smtp://`` requires STARTTLS: a server (or a man in the middle stripping STARTTLS from
the server's greeting) that does not offer it gets neither the login nor the message.
``smtp+insecure://`` is the explicit way to a plain local relay. Checked with real SMTP
servers (aiosmtpd, one without TLS, one with STARTTLS and a certificate the client is
told to trust), for the dashboard's account mail and the processors' session reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mindhit.accounts import create_user
from mindhit.settings import Settings
from processors.report import reporter_from_settings
from tests.integration.processors.report.mail import built_session
from tests.security._web import Browser, WebServer, running_web, unique_email
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Recorder:
    """Accepts every message and notes whether the session was encrypted."""

    def __init__(self) -> None:
        self.messages: list[tuple[EmailMessage, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((parsed, session.ssl is not None))
        return "250 OK"

    def to(self, address: str) -> list[tuple[EmailMessage, bool]]:
        return [(m, tls) for m, tls in self.messages if m["To"] == address]


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def plain() -> Iterator[tuple[int, Recorder]]:
    """An SMTP server that offers no STARTTLS."""
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, recorder
    controller.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Recorder, Path]]:
    """An SMTP server that offers (and requires) STARTTLS; yields its certificate too."""
    import ssl

    cert, key = _certificate(tmp_path_factory.mktemp("smtp-tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder, port = Recorder(), free_port()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield port, recorder, cert
    controller.stop()


def _wait_for_log(server: WebServer, event: str, timeout_s: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if f'"{event}"' in line:
                found: dict[str, Any] = json.loads(line)
                return found
        time.sleep(0.2)
    raise TimeoutError(f"{event} not logged; see {server.log}")


def _reader(database_url: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            email = unique_email("report")
            user = await create_user(conn, email, email_confirmed=True)
            await conn.execute(
                "UPDATE user_settings SET email_reports = true WHERE user_id = %s",
                (user.user_id,),
            )
            return user.user_id, email

    return asyncio.run(go())


def _report(url: str, database_url: str, user_id: str) -> bool:
    reporter = reporter_from_settings(Settings.from_env({}, smtp_url=url), database_url)
    assert reporter is not None
    return asyncio.run(reporter(*built_session(user_id)))


def test_reports_are_not_sent_to_a_server_without_starttls(
    plain: tuple[int, Recorder], database_url: str
) -> None:
    port, recorder = plain
    user_id, email = _reader(database_url)
    assert _report(f"smtp://127.0.0.1:{port}", database_url, user_id) is False  # retried later
    assert recorder.to(email) == []  # nothing went over the wire in plain text
    assert _report(f"smtp+insecure://127.0.0.1:{port}", database_url, user_id) is True
    assert [tls for _, tls in recorder.to(email)] == [False]  # only when the URL says so


def test_reports_go_out_over_starttls(
    tls: tuple[int, Recorder, Path], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, recorder, cert = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    user_id, email = _reader(database_url)
    assert _report(f"smtp://localhost:{port}", database_url, user_id) is True
    assert [tls for _, tls in recorder.to(email)] == [True]


def test_account_mail_needs_starttls_unless_the_url_says_otherwise(
    redis_url: str,
    database_url: str,
    plain: tuple[int, Recorder],
    tls: tuple[int, Recorder, Path],
) -> None:
    plain_port, plain_inbox = plain
    with running_web(
        redis_url, database_url, MINDHIT_SMTP_URL=f"smtp://127.0.0.1:{plain_port}"
    ) as web:
        email = unique_email("starttls")
        assert Browser(web.url, source="127.0.0.30").ask_sign_up(email).status_code == 200
        failed = _wait_for_log(web, "account.mail_failed")
        assert "STARTTLS" in failed["error"] or "starttls" in failed["error"].lower()
        assert plain_inbox.to(email) == []

    tls_port, tls_inbox, cert = tls
    with running_web(
        redis_url,
        database_url,
        MINDHIT_SMTP_URL=f"smtp://localhost:{tls_port}",
        SSL_CERT_FILE=str(cert),
    ) as web:
        email = unique_email("starttls")
        assert Browser(web.url, source="127.0.0.31").ask_sign_up(email).status_code == 200
        _wait_for_log(web, "account.mail_sent")
        [(mail, encrypted)] = tls_inbox.to(email)
        assert encrypted and "/signup/finish?token=" in mail.get_content()
