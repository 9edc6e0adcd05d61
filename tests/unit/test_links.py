"""Only http(s) URLs become links (mindhit.links)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mindhit.links import web_href


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\x01https://ok.example/",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "chrome://settings",
        "about:blank",
        "//evil.example/x",
        "/relative",
        "https:evil.example",
        "https:///path",
        "https://\\evil.example",
        "https://ok.example/\nline",
        "",
    ],
)
def test_other_schemes_and_tricks_are_not_links(url: str) -> None:
    assert web_href(url) is None


@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)
def test_web_urls_are_links_unchanged(scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}://{host}/{rest}"
    assert web_href(url) == url


@given(st.text(max_size=40))
def test_a_link_always_starts_with_a_web_scheme_and_has_no_control_characters(url: str) -> None:
    href = web_href(url)
    if href is not None:
        assert href.lower().startswith(("http://", "https://"))
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in href)
