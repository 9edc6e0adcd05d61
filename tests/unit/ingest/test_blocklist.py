"""Block lists: a domain blocks itself and its subdomains, nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.blocklist import is_blocked, partition_blocked
from ingest.validation import parse_batch
from mindhit.domains import normalize_domain
from tests.unit.ingest.factories import event_dicts, upload_body

labels = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=3), st.lists(labels, min_size=2, max_size=3))
def test_a_domain_blocks_every_subdomain(sub: list[str], domain: list[str]) -> None:
    blocked = frozenset([".".join(domain)])
    url = f"https://{'.'.join([*sub, *domain])}/path?q=1"
    assert is_blocked(url, blocked)
    assert is_blocked(f"http://{'.'.join(domain).upper()}.:8080/", blocked)


@given(labels, st.lists(labels, min_size=2, max_size=3))
def test_a_domain_does_not_block_lookalikes(prefix: str, domain: list[str]) -> None:
    name = ".".join(domain)
    assert not is_blocked(f"https://{prefix}{name}/", frozenset([name]))
    assert not is_blocked(f"https://{name}.evil.example/", frozenset([name]))


def test_block_list_entries_are_normalized() -> None:
    assert normalize_domain(" *.Bank.Example. ") == "bank.example"
    assert normalize_domain("https://bank.example/login") == "bank.example"
    assert normalize_domain("bank.example:443") == "bank.example"
    assert not is_blocked("not a url", frozenset(["bank.example"]))
    assert not is_blocked("https://[::1]:99/", frozenset(["bank.example"]))


def test_only_events_with_urls_on_blocked_domains_are_dropped() -> None:
    events = parse_batch(upload_body(event_dicts(12, host="www.bank.example"))).events
    kept, dropped = partition_blocked(events, frozenset(["bank.example"]))
    assert dropped == 4  # the tab.activated and tab.updated ones
    assert all(not hasattr(e, "url") for e in kept)
    assert partition_blocked(events, frozenset()) == (events, 0)
