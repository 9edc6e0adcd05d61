"""Which address made a request: forwarded headers believed only from trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.proxies import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])
public_v4 = st.builds(
    lambda n: str(ipaddress.IPv4Address(n)),
    st.integers(0x0B000000, 0xBFFFFFFF),  # 11.0.0.0 - 191.255.255.255: never in 10/8
)
junk = st.lists(
    st.one_of(public_v4, st.sampled_from(["unknown", "", "1.2.3.4:80", "[::1]:9", "x"])),
    max_size=4,
)


@given(public_v4, junk)
def test_an_untrusted_peer_is_the_client_whatever_it_claims(peer: str, claimed: list[str]) -> None:
    assert client_address(peer, [", ".join(claimed)], PROXIES) == peer


@given(public_v4, junk, st.lists(st.sampled_from(["10.0.0.7", "10.1.2.3"]), max_size=3))
def test_behind_trusted_proxies_the_hop_they_added_is_the_client(
    client: str, forged: list[str], inner_proxies: list[str]
) -> None:
    # The client writes anything; each trusted proxy appends who connected to it.
    header = ", ".join([*forged, client, *inner_proxies])
    assert client_address("10.9.9.9", [header], PROXIES) == client


def test_forwarded_header_rfc7239_and_several_header_lines() -> None:
    values = ['for=198.51.100.1;proto=https, for="[2001:db8::7]:4711"', "for=10.0.0.2"]
    assert client_address("10.0.0.1", values, PROXIES, "forwarded") == "2001:db8::7"
    assert client_address("10.0.0.1", ["203.0.113.5", "10.0.0.3"], PROXIES) == "203.0.113.5"


def test_no_proxies_configured_means_no_header_is_believed() -> None:
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


def test_a_hop_that_is_not_an_address_stops_the_walk() -> None:
    assert client_address("10.0.0.1", ["203.0.113.9, garbage, 10.0.0.2"], PROXIES) == "10.0.0.2"
    assert client_address("::ffff:10.0.0.1", ["203.0.113.9"], PROXIES) == "203.0.113.9"


def test_a_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        parse_networks(["10.0.0.0/8", "not-a-cidr"])
