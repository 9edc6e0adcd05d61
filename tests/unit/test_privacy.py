"""URL privacy rules (schema/privacy.py): what of a URL may leave the browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.privacy import (
    UserSecretParams,
    is_page_url,
    is_secret_param,
    is_url_title,
    parse_secret_params,
    scrub_url,
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "url_privacy_cases.json").read_text()
)["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["url"][:60] for c in CASES])
def test_shared_cases(case: dict[str, Any]) -> None:
    extra = UserSecretParams(case.get("extra", []))
    assert is_page_url(case["url"]) is case["page"]
    assert scrub_url(case["url"], extra) == case["scrubbed"]


def test_user_entries() -> None:
    assert parse_secret_params("Tracking, x-my-*\n ref  *  a*b") == ["tracking", "x-my-*", "ref"]
    extra = UserSecretParams(["tracking", "x-my-*"])
    assert is_secret_param("X-My-Anything", extra)
    assert is_secret_param("TRACKING", extra)
    assert not is_secret_param("tracking2", extra)


names = st.text(alphabet="abcdefkopstnwAKT_-%+0", min_size=0, max_size=12)
values = st.text(alphabet="abc123%=/:+ ", max_size=8)
pairs = st.lists(st.tuples(names, values), max_size=6)
secrets_ = st.sampled_from(["token", "code", "state", "X-Amz-Signature", "csrf_token", "pwd"])


def _url(pairs: list[tuple[str, str]], fragment: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in pairs)
    return f"https://example.com/p?{query}" + (f"#{fragment}" if fragment else "")


@given(pairs, st.text(max_size=10))
def test_no_fragment_and_no_secret_parameter_survives(
    pairs: list[tuple[str, str]], fragment: str
) -> None:
    scrubbed = scrub_url(_url(pairs, fragment))
    assert "#" not in scrubbed
    query = scrubbed.partition("?")[2]
    for pair in query.split("&") if query else []:
        name = unquote(pair.split("=", 1)[0].replace("+", " "))
        assert not pair or not is_secret_param(name)
    assert scrub_url(scrubbed) == scrubbed  # idempotent


@given(pairs, secrets_)
def test_a_secret_is_cut_and_the_rest_kept_in_order(
    pairs: list[tuple[str, str]], secret: str
) -> None:
    harmless = [(n, v) for n, v in pairs if n and not is_secret_param(unquote(n))]
    mixed = [*harmless[:2], (secret, "s3cr3t"), *harmless[2:]]
    expected = _url(harmless, "") if harmless else "https://example.com/p"
    assert scrub_url(_url(mixed, "frag")) == expected


@given(pairs)
def test_a_url_without_secrets_is_unchanged(pairs: list[tuple[str, str]]) -> None:
    harmless = [(n, v) for n, v in pairs if not is_secret_param(unquote(n.replace("+", " ")))]
    url = _url(harmless, "")
    assert scrub_url(url) == url


TITLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "url_privacy_cases.json").read_text()
)["url_titles"]


@pytest.mark.parametrize("case", TITLES, ids=[c["title"][:40] for c in TITLES])
def test_a_title_that_is_only_the_url_is_recognised(case: dict[str, Any]) -> None:
    assert is_url_title(case["title"], case["url"]) is case["is_url"]
