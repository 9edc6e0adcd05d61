"""The real dashboard as a process, and people using it over HTTP (attacker and victim).

:class:`WebServer` runs ``python -m mindhit.cli web`` on a free loopback port against
the test database and Redis (a key prefix of its own), with any extra ``MINDHIT_*``
settings, and keeps its log. :class:`Browser` is one person's browser: its own cookies,
the CSRF token the pages carry, and the source address its connections come from
(any 127.0.0.0/8 address: the kernel routes them all over loopback), so a test can put
an attacker and a victim on different client addresses without any proxy.

(``tests/security/conftest.py`` from the data side may offer shared fixtures; these
helpers need nothing but the root ``conftest.py``.)
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.security._process import ARTIFACTS, ROOT, ServiceProcess

__all__ = [
    "ARTIFACTS",
    "PASSWORD",
    "ROOT",
    "Browser",
    "WebServer",
    "mindhit_cli",
    "running_web",
    "unique_email",
]

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')
_FINISH = re.compile(r'href="([^"]*)" id="finish-link"')
_TOKEN = re.compile(r'name="token" value="([^"]*)"')


def unique_email(tag: str) -> str:
    """A fresh address for one test."""
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.test"


def _env(redis_url: str, database_url: str, prefix: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
    env.update(
        {
            "MINDHIT_REDIS_URL": redis_url,
            "MINDHIT_DATABASE_URL": database_url,
            "MINDHIT_KEY_PREFIX": prefix,
            "MINDHIT_PARTITIONS": "4",
            "MINDHIT_SECRET_KEY": "security-tests-secret",
            "MINDHIT_LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


def mindhit_cli(
    redis_url: str, database_url: str, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``mindhit ARGS`` (the operator's command line) against the test services."""
    return subprocess.run(
        [sys.executable, "-m", "mindhit.cli", *args],
        env=_env(redis_url, database_url, "mhsec-cli", extra),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


class WebServer(ServiceProcess):
    """``mindhit web`` as a child process on a free port; its output in ``log``."""

    ready_path = "/healthz"

    def __init__(self, redis_url: str, database_url: str, **extra: str) -> None:
        super().__init__("web", f"mhsec-{uuid.uuid4().hex[:8]}", redis_url, {})
        extra.setdefault("MINDHIT_PUBLIC_URL", self.url)
        extra.setdefault("MINDHIT_WEB_METRICS_PORT", "0")  # a test that wants it names a port
        self.env = _env(redis_url, database_url, self.prefix, extra)

    def logged_links(self, path: str) -> list[str]:
        """Dashboard links (``/confirm-email`` …) in mail the server logged instead of sending."""
        found: list[str] = []
        for line in self.log_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "account.mail_not_sent":
                pattern = rf"{re.escape(self.url)}{re.escape(path)}\?token=[A-Za-z0-9_-]+"
                found += re.findall(pattern, str(event.get("body", "")))
        return found


@contextmanager
def running_web(redis_url: str, database_url: str, **extra: str) -> Iterator[WebServer]:
    """A started :class:`WebServer`, stopped afterwards."""
    server = WebServer(redis_url, database_url, **extra)
    try:
        yield server.start()
    finally:
        server.stop()


class Browser:
    """One person's browser: cookies, the page's CSRF token, a source address."""

    def __init__(
        self, base_url: str, *, source: str = "127.0.0.1", headers: dict[str, str] | None = None
    ) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            transport=httpx.HTTPTransport(local_address=source),
            headers=headers or {},
            follow_redirects=False,
            timeout=60.0,
        )
        self.csrf = ""

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def page(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a page and remember its CSRF token."""
        answer = self.client.get(path, **kwargs)
        found = _CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    def form(
        self, path: str, data: dict[str, str], *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST a form with the CSRF token (fetching a page first when there is none)."""
        if not self.csrf:
            self.page("/login")
        return self.client.post(path, data={**data, "_csrf_token": self.csrf}, headers=headers)

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """A JSON API call with the CSRF header."""
        if not self.csrf:
            self.page("/login")
        return self.client.request(
            method,
            path,
            json=body,
            headers={"x-csrftoken": self.csrf, "accept": "application/json"},
        )

    def ask_sign_up(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """The sign-up form alone: its answer (the same for every address, 200 "check your
        mail") or the refusal of a bad input."""
        self.page("/signup")
        return self.form("/signup", {"email": email, "password": password, "password2": password})

    def finish_sign_up(self, link: str, password: str = PASSWORD) -> httpx.Response:
        """Open a sign-up link (from the mail or, in development, the page) and use it with
        the password chosen when signing up."""
        parts = urlsplit(link)  # this server's page, whatever host the link names
        page = self.page(f"{parts.path}?{parts.query}")
        found = _TOKEN.search(page.text)
        token = found.group(1) if found else ""
        return self.form("/signup/finish", {"token": token, "password": password})

    def sign_up(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Sign up as a user would on a development server (no mail: the link is on the
        page): ask, then use the link. The finishing answer (303 to settings, signed in),
        or the form's answer when it refused or showed no link."""
        asked = self.ask_sign_up(email, password)
        found = _FINISH.search(asked.text)
        if asked.status_code != 200 or not found:
            return asked
        return self.finish_sign_up(html.unescape(found.group(1)), password)

    def sign_in(
        self, email: str, password: str = PASSWORD, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """The sign-in form."""
        self.page("/login", headers=headers)
        return self.form("/login", {"email": email, "password": password}, headers=headers)

    def sign_out(self) -> httpx.Response:
        """The sign-out button."""
        return self.form("/logout", {})

    def me(self) -> httpx.Response:
        """``GET /v1/me``."""
        return self.client.get("/v1/me", headers={"accept": "application/json"})
