"""URL normalization: the same page linked differently is one URL."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from processors.urls import domain_of, normalize_url, page_of, url_hash


def test_campaign_links_fragments_case_and_default_ports_collapse() -> None:
    variants = [
        "https://www.Example.com/article?id=7&lang=en",
        "HTTPS://WWW.EXAMPLE.COM:443/article?lang=en&id=7#comments",
        "https://www.example.com/article?utm_source=news&id=7&fbclid=abc&lang=en&gclid=x",
        "https://www.example.com/article?lang=en&UTM_Campaign=y&id=7",
    ]
    assert {normalize_url(v) for v in variants} == {"https://www.example.com/article?id=7&lang=en"}


def test_different_pages_stay_different() -> None:
    assert normalize_url("http://example.com/a") != normalize_url("https://example.com/a")
    assert normalize_url("https://example.com/a?id=1") != normalize_url(
        "https://example.com/a?id=2"
    )
    assert normalize_url("https://example.com:8443/") == "https://example.com:8443/"
    assert normalize_url("https://example.com/a%2Fb") != normalize_url("https://example.com/a/b")


def test_hostless_urls_and_domains() -> None:
    assert normalize_url("about:blank#x") == "about:blank"
    assert domain_of("https://www.news.example.org/x") == "news.example.org"
    assert domain_of("chrome://newtab/") == "newtab"
    assert len(url_hash(normalize_url("https://a.example"))) == 64


segment = st.text(alphabet="abcXYZ09-._~%/ é", max_size=8)
params = st.lists(
    st.tuples(st.sampled_from(["a", "b", "utm_medium", "gclid", "q", "Z"]), segment), max_size=5
)


@given(
    st.sampled_from(["http", "https", "HTTP"]),
    st.sampled_from(["Example.com", "www.example.ORG", "example.com:80", "example.com:443"]),
    segment,
    params,
    segment,
)
def test_normalize_is_idempotent_and_ignores_param_order_and_tracking(
    scheme: str, host: str, path: str, query: list[tuple[str, str]], fragment: str
) -> None:
    from urllib.parse import quote

    qs = "&".join(f"{k}={quote(v)}" for k, v in query)
    url = f"{scheme}://{host}/{quote(path)}?{qs}#{fragment}"
    once = normalize_url(url)
    assert normalize_url(once) == once
    assert "#" not in once
    assert "utm_" not in once and "gclid" not in once
    reordered = "&".join(f"{k}={quote(v)}" for k, v in sorted(query, key=lambda kv: kv[0]))
    assert normalize_url(f"{scheme}://{host}/{quote(path)}?{reordered}") == once


@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            "{}://{}/{}?{}#{}".format,
            st.sampled_from(["http", "https", "HTTP", "about", "chrome"]),
            st.sampled_from(["Example.com", "www.example.ORG", "example.com:443", ""]),
            st.text(max_size=10),
            st.sampled_from(["", "utm_source=x&b=2&a=1", "fbclid=1"]),
            st.text(max_size=5),
        ),
    )
)
def test_page_of_is_the_normalized_url_its_hash_and_domain(url: str) -> None:
    # The fold names each closed visit's page with one cached look-up (its fast path).
    normalized = normalize_url(url)
    assert page_of(url) == (normalized, url_hash(normalized), domain_of(normalized))
