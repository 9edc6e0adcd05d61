"""Block-list entries name the hosts browsers report, however the person typed them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.blocklist import is_blocked
from ingest.state import blocked_domains
from mindhit.domains import normalize_domain
from web.snippets import normalize_domains


def test_a_unicode_entry_blocks_the_host_browsers_report() -> None:
    """Chromium reports ``https://bücher.de/`` as ``https://xn--bcher-kva.de/``."""
    blocked = blocked_domains((), ("Bücher.de",))
    assert is_blocked("https://xn--bcher-kva.de/katalog", blocked)
    assert is_blocked("https://shop.xn--bcher-kva.de/", blocked)
    assert not is_blocked("https://buecher.de/", blocked)
    assert normalize_domains("bücher.de, faß.de") == (["xn--bcher-kva.de", "xn--fa-hia.de"], [])


def test_entries_are_stripped_to_their_domain_and_garbage_is_refused() -> None:
    assert normalize_domain(" *.Bank.Example. ") == "bank.example"
    assert normalize_domain("https://Mail.Example.com:8443/x?y#z") == "mail.example.com"
    for garbage in ("", "  ", "no_way", "http://[::1]/", "-bad.example", "a..b"):
        assert normalize_domain(garbage) is None, garbage


_label = st.text(alphabet="abcxyzü0123456789-", min_size=1, max_size=12)


@given(st.lists(_label, min_size=1, max_size=4), st.sampled_from(["", "https://", "*.", "."]))
def test_normalizing_twice_changes_nothing(labels: list[str], decoration: str) -> None:
    once = normalize_domain(decoration + ".".join(labels))
    if once is not None:
        assert once.isascii()
        assert normalize_domain(once) == once
