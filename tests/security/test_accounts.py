"""Accounts: a way in for users the operator made, password change, signing out everywhere,
and answers that carry secrets never being cached.

Each test drives the real dashboard process over HTTP (and the operator's real command
line), with the account's owner in one browser and whoever holds another of its sign-ins
(a stolen session, a shared computer) in another.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security._web import PASSWORD, Browser, WebServer, mindhit_cli, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard (development: account mail is logged)."""
    with running_web(redis_url, database_url) as server:
        yield server


def _signed_up(web: WebServer, tag: str, source: str) -> tuple[Browser, str]:
    browser = Browser(web.url, source=source)
    email = unique_email(tag)
    assert browser.sign_up(email).status_code == 303
    return browser, email


def test_a_user_made_on_the_command_line_sets_a_password_and_signs_in(
    web: WebServer, redis_url: str, database_url: str
) -> None:
    email = unique_email("cli")
    made = mindhit_cli(redis_url, database_url, "user", "create", email)
    assert made.returncode == 0 and "mindhit user password" in made.stdout
    user = Browser(web.url, source="127.0.0.20")
    assert user.sign_in(email, "anything at all").status_code == 400  # no password yet
    short = mindhit_cli(redis_url, database_url, "user", "password", email, "--stdin", stdin="x\n")
    assert short.returncode != 0 and "at least 10" in short.stderr
    done = mindhit_cli(
        redis_url, database_url, "user", "password", email, "--stdin", stdin=f"{PASSWORD}\n"
    )
    assert done.returncode == 0, done.stderr
    assert user.sign_in(email).status_code == 303
    me = user.me().json()
    assert me["email"] == email and me["has_password"] and me["email_confirmed"]


def test_a_one_time_sign_in_link_lets_a_passwordless_user_in_once(
    web: WebServer, redis_url: str, database_url: str
) -> None:
    email = unique_email("link")
    assert mindhit_cli(redis_url, database_url, "user", "create", email).returncode == 0
    printed = mindhit_cli(
        redis_url, database_url, "user", "link", email, MINDHIT_PUBLIC_URL=web.url
    )
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip().splitlines()[-1]
    assert link.startswith(f"{web.url}/signin-link?token=")
    token = link.split("token=")[1]

    user = Browser(web.url, source="127.0.0.21")
    page = user.page(link.removeprefix(web.url))  # a GET (a mail scanner) spends nothing
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert user.form("/signin-link", {"token": token}).status_code == 303
    me = user.me().json()
    assert me["email"] == email and me["has_password"] is False
    # Now set a password (none yet, so no current one is asked for) and use it.
    set_it = user.form("/settings/password", {"new_password": PASSWORD, "new_password2": PASSWORD})
    assert set_it.status_code == 303
    assert Browser(web.url, source="127.0.0.21").sign_in(email).status_code == 303

    other = Browser(web.url, source="127.0.0.22")
    other.page("/signin-link?token=" + token)
    assert other.form("/signin-link", {"token": token}).status_code == 400  # used once
    assert other.me().status_code == 401


def test_changing_the_password_needs_the_current_one_and_signs_out_other_browsers(
    web: WebServer,
) -> None:
    owner, email = _signed_up(web, "change", "127.0.0.23")
    stolen = Browser(web.url, source="127.0.0.24")  # a second sign-in: a stolen session
    assert stolen.sign_in(email).status_code == 303

    # Holding a session is not knowing the password: no change without the current one.
    missing = stolen.api("POST", "/v1/account/password", {"new_password": "taken over!!"})
    assert missing.status_code == 400
    assert missing.json()["extra"][0]["key"] == "current_password"
    wrong = stolen.api(
        "POST",
        "/v1/account/password",
        {"current_password": "a guess!", "new_password": "taken over!!"},
    )
    assert wrong.status_code == 400

    changed = owner.api(
        "POST",
        "/v1/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204, changed.text
    assert stolen.me().status_code == 401  # every other browser is signed out
    assert owner.me().status_code == 200  # this one stays
    fresh = Browser(web.url, source="127.0.0.25")
    assert fresh.sign_in(email).status_code == 400  # the old password is gone
    assert fresh.sign_in(email, NEW_PASSWORD).status_code == 303


def test_sign_out_everywhere_ends_every_session(web: WebServer) -> None:
    owner, email = _signed_up(web, "everywhere", "127.0.0.26")
    others = [Browser(web.url, source="127.0.0.27") for _ in range(2)]
    for other in others:
        assert other.sign_in(email).status_code == 303
    assert 'Signed in on <b id="browser-count">3</b>' in owner.page("/settings").text
    answer = owner.api("POST", "/v1/account/sign-out-everywhere")
    assert answer.status_code == 200 and answer.json()["ended"] == 3
    assert [b.me().status_code for b in [owner, *others]] == [401, 401, 401]

    # The same from the settings page's button.
    assert others[0].sign_in(email).status_code == 303
    others[0].page("/settings")
    assert others[0].form("/settings/sign-out-everywhere", {}).status_code == 303
    assert others[0].me().status_code == 401


def test_answers_that_carry_secrets_are_never_cached(web: WebServer) -> None:
    owner, _ = _signed_up(web, "cache", "127.0.0.28")
    owner.page("/settings")
    page = owner.form("/settings/tokens", {"device": "laptop"})
    assert page.status_code == 200 and 'id="new-token"' in page.text
    assert page.headers["cache-control"] == "no-store"
    api = owner.api("POST", "/v1/tokens", {"device": "phone"})
    assert api.status_code == 201 and api.json()["token"].startswith("mh_")
    assert api.headers["cache-control"] == "no-store"
    for path in ("/settings", "/sessions", "/v1/me", "/v1/tokens", "/login"):
        assert owner.client.get(path).headers.get("cache-control") == "no-store", path
