"""Account addresses: exactly one address, one canonical form (mindhit.emails)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mindhit.emails import EmailError, normalize_email

local_parts = st.text(
    string.ascii_letters + string.digits + "._+-", min_size=1, max_size=30
).filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
domains = st.lists(labels, min_size=1, max_size=3).map(lambda parts: ".".join([*parts, "test"]))
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


@given(addresses)
def test_normal_form_is_stable_and_ignores_case_and_width(address: str) -> None:
    canonical = normalize_email(address)
    assert normalize_email(canonical) == canonical
    assert normalize_email(address.upper()) == canonical
    assert normalize_email(f"  {address}\t") == canonical
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in address)
    assert normalize_email(wide) == canonical  # full-width forms are the same address
    assert canonical.count("@") == 1 and canonical == canonical.lower()


@given(addresses, addresses, st.sampled_from([",", ";", " ", "\n", "\r\n"]))
def test_two_addresses_are_never_one(first: str, second: str, separator: str) -> None:
    with pytest.raises(EmailError):
        normalize_email(f"{first}{separator}{second}")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-at-sign",
        "two@@x.test",
        "a@b@c.test",
        "Ann <ann@x.test>",
        '"ann"@x.test',
        "ann@[127.0.0.1]",
        "ann@127.0.0.1",
        "ann@localhost",
        ".ann@x.test",
        "an..n@x.test",
        "ann@-x.test",
        "ann@x.test\x00",
        "a" * 65 + "@x.test",
        "ann@" + "x" * 250 + ".test",
    ],
)
def test_what_is_not_one_address_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(EmailError) as refused:
        normalize_email(text)
    assert str(refused.value)


def test_unicode_domains_are_stored_in_their_ascii_form() -> None:
    assert normalize_email("Jörg@Bücher.Example") == "jörg@xn--bcher-kva.example"
    assert normalize_email("ann@ＥＸＡＭＰＬＥ.test") == "ann@example.test"
