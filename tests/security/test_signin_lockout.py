"""Attack 6: locking a victim out of their account with wrong passwords.

Each test drives the real dashboard process over HTTP with an attacker and a victim on
different client addresses (direct, or behind a trusted proxy that names them in
``X-Forwarded-For``), and asserts that the owner still signs in while the attacker is
slowed down.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security._web import Browser, WebServer, running_web, unique_email

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ATTACKER_IP = "127.0.0.2"
INGRESS_IP = "127.0.0.3"
OFFICE_IP = "127.0.0.4"  # one NAT address shared by the owner and the attacker
SPRAYER_IP = "127.0.0.5"


@pytest.fixture(scope="module")
def direct(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard reached directly (no proxy in front; no forwarded header trusted)."""
    with running_web(redis_url, database_url) as server:
        yield server


@pytest.fixture(scope="module")
def behind_ingress(redis_url: str, database_url: str) -> Iterator[WebServer]:
    """The dashboard behind an ingress at INGRESS_IP, configured as the trusted proxy."""
    with running_web(redis_url, database_url, MINDHIT_TRUSTED_PROXIES=f"{INGRESS_IP}/32") as server:
        yield server


def _victim(server: WebServer, tag: str, source: str = "127.0.0.1") -> tuple[Browser, str]:
    victim = Browser(server.url, source=source)
    email = unique_email(tag)
    assert victim.sign_up(email).status_code == 303
    assert victim.sign_out().status_code == 303
    return victim, email


def test_a_stranger_cannot_lock_the_owner_out(direct: WebServer) -> None:
    victim, email = _victim(direct, "owner")
    attacker = Browser(direct.url, source=ATTACKER_IP)
    answers = [attacker.sign_in(email, f"guess number {i}").status_code for i in range(8)]

    # The owner, from their own address, signs in at once: no lockout.
    assert victim.sign_in(email).status_code == 303
    assert victim.me().json()["email"] == email

    assert answers[:5] == [400] * 5  # wrong passwords are refused…
    assert 429 in answers[5:]  # …and then the stranger has to wait
    limited = attacker.sign_in(email, "yet another guess")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_owner_sharing_the_attackers_address_gets_in_from_a_known_browser(
    direct: WebServer,
) -> None:
    victim, email = _victim(direct, "nat", source=OFFICE_IP)
    assert victim.sign_in(email).status_code == 303  # this browser is now known
    assert victim.sign_out().status_code == 303
    # Same address as the victim (one office NAT): the attacker sprays this account and
    # many others until both the account's and the address's buckets are exhausted.
    attacker = Browser(direct.url, source=OFFICE_IP)
    answers = [attacker.sign_in(email, f"guess {i}").status_code for i in range(7)]
    answers += [attacker.sign_in(unique_email("other"), "guess").status_code for _ in range(25)]
    limited = attacker.sign_in(email, "one more guess").status_code

    # The owner's browser carries its known-device cookie: it is not in those buckets.
    assert victim.sign_in(email).status_code == 303
    assert victim.me().status_code == 200

    assert answers[-1] == 429 and limited == 429
    # A new browser at that address is throttled like the attacker.
    assert Browser(direct.url, source=OFFICE_IP).sign_in(email).status_code == 429


def test_forged_forwarded_headers_do_not_reset_the_address_limit(direct: WebServer) -> None:
    # Nothing is configured as a proxy: a client naming itself in X-Forwarded-For is not
    # believed, so rotating the header does not escape the per-address limit.
    attacker = Browser(direct.url, source=SPRAYER_IP)
    codes = [
        attacker.sign_in(
            unique_email("spray"), "Summer2026!", headers={"x-forwarded-for": f"198.51.100.{i}"}
        ).status_code
        for i in range(1, 26)
    ]
    assert codes[:20] == [400] * 20 and codes[-1] == 429, codes


def test_behind_the_ingress_each_user_has_their_own_bucket(behind_ingress: WebServer) -> None:
    _, email = _victim(behind_ingress, "ingress")
    # Every request arrives from the ingress; it appends the real client to X-Forwarded-For
    # (after whatever the client wrote itself).
    attacker = Browser(behind_ingress.url, source=INGRESS_IP)
    codes = [
        attacker.sign_in(
            unique_email("spray"),
            "Winter2026!",
            headers={"x-forwarded-for": f"10.9.9.{i}, 203.0.113.66"},  # forged, then real
        ).status_code
        for i in range(32)
    ]

    # The victim, also through the ingress, is not in the attacker's bucket…
    victim_via_ingress = Browser(
        behind_ingress.url, source=INGRESS_IP, headers={"x-forwarded-for": "192.0.2.44"}
    )
    assert victim_via_ingress.sign_in(email).status_code == 303
    assert victim_via_ingress.me().json()["email"] == email
    # …while the attacker's own address is limited.
    assert codes[:20] == [400] * 20 and codes[-1] == 429, codes
