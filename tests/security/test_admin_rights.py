"""Attack 9: becoming the operator by signing up with an address on the admin list.

The dashboard runs with ``MINDHIT_ADMIN_EMAILS`` naming the operator's address. A
stranger who signs up with it first gets no admin rights; the operator grants them with
the command line (the admin flag) or by confirming the listed address from its mailbox.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security._web import Browser, WebServer, mindhit_cli, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LISTED = unique_email("boss")
LISTED_TOO = unique_email("deputy")


@pytest.fixture(scope="module")
def web(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard with two listed admin addresses (development: mail is logged)."""
    with running_web(
        redis_url, database_url, MINDHIT_ADMIN_EMAILS=f"{LISTED},{LISTED_TOO.upper()}"
    ) as server:
        yield server


def _is_admin(browser: Browser) -> bool:
    ops = browser.page("/ops").status_code
    letters = browser.client.get("/v1/admin/dead-letters").status_code
    lag = browser.client.get("/v1/admin/lag").status_code
    me = browser.me().json()["is_admin"]
    assert len({ops == 200, letters == 200, lag == 200, me}) == 1, (ops, letters, lag, me)
    return bool(me)


def test_signing_up_with_a_listed_address_gives_no_admin_rights(web: WebServer) -> None:
    attacker = Browser(web.url, source="127.0.0.12")
    assert attacker.sign_up(LISTED).status_code == 303
    assert not _is_admin(attacker)
    assert attacker.page("/ops").status_code == 403
    assert "/ops" not in attacker.page("/sessions").text  # no link to it either


def test_a_listed_address_is_admin_once_its_owner_confirms_it(web: WebServer) -> None:
    owner = Browser(web.url, source="127.0.0.13")
    assert owner.sign_up(LISTED_TOO).status_code == 303
    assert not _is_admin(owner)
    # No SMTP in development: the confirmation mail is in the dashboard's log.
    links = web.logged_links("/confirm-email")
    assert links, "the confirmation link was not logged"
    token = links[-1].split("token=")[1]
    assert owner.form("/confirm-email", {"token": token}).status_code == 200
    assert _is_admin(owner)


def test_the_operator_grants_and_revokes_the_admin_flag(
    web: WebServer, redis_url: str, database_url: str
) -> None:
    address = unique_email("operator")
    made = mindhit_cli(redis_url, database_url, "user", "create", "--admin", address)
    assert made.returncode == 0, made.stderr
    assert (
        mindhit_cli(
            redis_url,
            database_url,
            "user",
            "password",
            address,
            "--stdin",
            stdin="operator pass 42\n",
        ).returncode
        == 0
    )
    operator = Browser(web.url, source="127.0.0.14")
    assert operator.sign_in(address, "operator pass 42").status_code == 303
    assert _is_admin(operator)

    helper = unique_email("helper")
    person = Browser(web.url, source="127.0.0.15")
    assert person.sign_up(helper).status_code == 303
    assert not _is_admin(person)
    assert mindhit_cli(redis_url, database_url, "user", "admin", helper).returncode == 0
    assert _is_admin(person)
    assert mindhit_cli(redis_url, database_url, "user", "admin", helper, "--revoke").returncode == 0
    assert not _is_admin(person)
