"""The ``next`` parameter of sign-in: only a page of this dashboard is ever returned to."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.next_path import MAX_NEXT, login_path, safe_next

ORIGIN = "https://mh.example/sessions/abc"


def _as_a_browser_reads_it(value: str) -> str:
    """What a browser makes of a Location: tabs and newlines dropped, ``\\`` read as ``/``."""
    return "".join(c for c in value if c not in "\t\n\r").replace("\\", "/")


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example",
        "//evil.example/sessions",
        "///evil.example",
        "https://evil.example",
        "http:/evil.example",
        "HTTPS://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "/sessions\\..\\..\\@evil.example",
        "javascript:alert(1)",
        "JavaScript:alert(1)//",
        "data:text/html,<script>alert(1)</script>",
        "/\t/evil.example",
        "/\n/evil.example",
        " /sessions",
        "/sessions ",
        "/ｅvil",
        "sessions",
        "evil.example",
        "",
        None,
        "/login",
        "/login?next=/sessions",
        "/logout",
        "/" + "a" * MAX_NEXT,
    ],
)
def test_other_origins_schemes_and_tricks_are_not_followed(value: str | None) -> None:
    assert safe_next(value) is None
    assert login_path(value) == "/login"


@pytest.mark.parametrize(
    "value",
    [
        "/sessions",
        "/sessions/01a2?tab=map#branch-3",
        "/overview?period=week&date=2026-12-01",
        "/search?q=%2F%2Fevil.example",
        "/settings/history",
    ],
)
def test_a_page_of_the_dashboard_is_returned_to(value: str) -> None:
    assert safe_next(value) == value
    path = login_path(value)
    assert path.startswith("/login?next=%2F") and "/" not in path.removeprefix("/login")


@given(st.text(max_size=60))
def test_whatever_is_followed_stays_on_this_origin(value: str) -> None:
    followed = safe_next(value)
    if followed is None:
        return
    for seen in (followed, _as_a_browser_reads_it(followed)):
        where = urlsplit(urljoin(ORIGIN, seen))
        assert (where.scheme, where.netloc) == ("https", "mh.example")
        assert where.path.startswith("/")


@given(
    st.sampled_from(["//", "/\\", "\\", "\t/", " /", "https:", "javascript:", "data:"]),
    st.text(max_size=40),
)
def test_a_dangerous_start_is_never_followed(start: str, rest: str) -> None:
    assert safe_next(start + rest) is None
