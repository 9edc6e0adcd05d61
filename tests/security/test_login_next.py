"""Open redirect through sign-in: ``/login?next=`` only ever leads to a dashboard page.

A signed-out visitor of a page is sent to sign in and then back to that page. A link
``https://mindhit/login?next=https://evil.example`` must not turn a real sign-in into a
trip to a look-alike site: every value other than a path on this origin is ignored.
Drives the real dashboard process over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.security._web import PASSWORD, Browser, WebServer, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVIL = [
    "//evil.example/sessions",
    "https://evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "javascript:alert(document.cookie)",
    '/sessions"><script>alert(1)</script>',
]


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard."""
    with running_web(redis_url, database_url) as server:
        yield server


@pytest.fixture(scope="module")
def account(web: WebServer) -> str:
    """An account to sign in to."""
    email = unique_email("next")
    browser = Browser(web.url, source="127.0.0.30")
    assert browser.sign_up(email).status_code == 303
    browser.close()
    return email


def _sign_in_with_next(web: WebServer, email: str, value: str, source: str) -> Browser:
    browser = Browser(web.url, source=source)
    page = browser.page(f"/login?next={quote(value, safe='')}")
    assert page.status_code == 200
    return browser


def test_a_signed_out_visit_returns_to_the_page_after_signing_in(
    web: WebServer, account: str
) -> None:
    browser = Browser(web.url, source="127.0.0.31")
    asked = browser.page("/overview?period=week")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2Foverview%3Fperiod%3Dweek"
    form = browser.page(asked.headers["location"])
    assert 'name="next" value="/overview?period=week"' in form.text
    signed_in = browser.form(
        "/login",
        {"email": account, "password": PASSWORD, "next": "/overview?period=week"},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/overview?period=week"
    assert browser.page("/overview?period=week").status_code == 200
    # Signed in already: the sign-in link goes straight to the page.
    again = browser.page("/login?next=%2Fsessions%3Fbefore%3Dx")
    assert again.headers["location"] == "/sessions?before=x"


@pytest.mark.parametrize("value", EVIL)
def test_another_site_or_a_script_is_never_the_way_back(
    web: WebServer, account: str, value: str
) -> None:
    browser = _sign_in_with_next(web, account, value, source="127.0.0.32")
    form = browser.page(f"/login?next={quote(value, safe='')}")
    assert 'name="next"' not in form.text  # not carried into the form either
    assert "evil.example" not in form.text and "<script>alert" not in form.text
    signed_in = browser.form("/login", {"email": account, "password": PASSWORD, "next": value})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/sessions"
    # Signed in already: the same link still leads nowhere else.
    assert browser.page(f"/login?next={quote(value, safe='')}").headers["location"] == "/sessions"


def test_a_wrong_password_keeps_the_way_back_and_only_a_safe_one(
    web: WebServer, account: str
) -> None:
    browser = Browser(web.url, source="127.0.0.33")
    browser.page("/login")
    wrong = browser.form(
        "/login", {"email": account, "password": "not the password", "next": "/settings"}
    )
    assert wrong.status_code == 400 and 'name="next" value="/settings"' in wrong.text
    evil = browser.form(
        "/login", {"email": account, "password": "not the password", "next": "//evil.example"}
    )
    assert evil.status_code == 400 and "evil.example" not in evil.text
