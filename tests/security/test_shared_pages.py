"""Pages two users read: nothing one of them sent reaches the other's view (issue 12).

The real gateway, processors, projector and dashboard run as processes; an attacker and
a victim each sign up, create a device token and upload browsing through the gateway
as the extension does, then read their timeline, search, mind map, overview and export
over HTTP.

* Titles are per user: the attacker visits the URL of the victim's webmail inbox with
  an empty title and sees no title the victim's browser sent (before: the shared urls
  row's title, the victim's, filled the gap; search found it).
* Verified text: text under another text's SHA-256 is refused by the gateway (before:
  stored first, it became every later reader's text, summary and map); a hash sent
  without its text is refused (before: the pipeline filled in whatever text it held
  under that hash, another user's private page); the first reader of a page with the
  genuine text but their own title cannot steer the shared summary and tags.
* Per-user ids: reusing a victim's ``client_id`` and ``seq`` or a victim's session id
  changes none of the victim's visits, session or mind map.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from schema.api import EventBatch
from schema.ids import uuid7
from tests.e2e.pipeline import Pipeline
from tests.security._stack import Page, Person, running_stack, sha256

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The whole pipeline (the database fixture migrates the test database first)."""
    with running_stack(Path(tmp_path_factory.mktemp("shared-pages")), "shared-pages") as running:
        yield running


@pytest.fixture
def victim(stack: Pipeline) -> Iterator[Person]:
    """The user whose data is at stake."""
    person = Person(stack, "victim", "127.0.0.61")
    yield person
    person.close()


@pytest.fixture
def attacker(stack: Pipeline) -> Iterator[Person]:
    """Another user with a free account."""
    person = Person(stack, "attacker", "127.0.0.62")
    yield person
    person.close()


def test_a_title_is_shown_only_to_whoever_sent_it(victim: Person, attacker: Person) -> None:
    inbox = f"https://mail.example/u/{victim.user_id[:8]}/inbox"
    secret = f"Inbox (3) Zanzibarquux {victim.email}"
    mine = victim.record([Page(url=inbox, title=secret), Page(url="https://news.example/")])
    victim.wait_done(mine)
    # The victim sees their own title everywhere (so the checks below can fail).
    assert victim.timeline(mine)[0]["title"] == secret
    assert [h["title"] for h in victim.search("zanzibarquux")] == [secret]
    assert secret in victim.everything_shown(mine, "zanzibarquux")

    # The attacker "visits" the same URL with no title at all.
    theirs = attacker.record([Page(url=inbox, title=""), Page(url="https://news.example/")])
    attacker.wait_done(theirs)
    visit = attacker.timeline(theirs)[0]
    assert visit["url"] == inbox and visit["title"] == inbox  # the URL stands in for a title
    assert attacker.search("zanzibarquux") == []
    assert attacker.search(victim.email.split("@")[0]) == []
    shown = attacker.everything_shown(theirs, "inbox")
    assert "Zanzibarquux" not in shown and victim.email not in shown


PUBLIC_URL = "https://encyclopedia.example/wiki/Lighthouse"
PUBLIC_TEXT = (
    "A lighthouse is a tower that emits light from lamps and lenses to guide ships at sea. "
    "Lighthouses mark dangerous coastlines, hazardous shoals and reefs, and safe entries "
    "to harbours. The Fresnel lens made lighthouse beams visible far out at sea. "
) * 6


def _text_shown(person: Person, session_id: str, query: str) -> str:
    """The timeline (summaries, tags, topics), search snippets and map of a session."""
    return repr([person.timeline(session_id), person.search(query), person.mindmap(session_id)])


def test_text_under_another_texts_hash_is_refused(victim: Person, attacker: Person) -> None:
    forged_text = "Scamcoin giveaway: send your wallet phrase to claim free scamcoin. " * 20
    sid, events = attacker.session_events(
        [Page(url=PUBLIC_URL, text=forged_text, content_hash=sha256(PUBLIC_TEXT))]
    )
    answer = attacker.upload(events)
    forged = next(i for i, e in enumerate(events) if e.__struct_config__.tag == "page.content")
    assert [(r["index"], r["field"]) for r in answer["rejected"]] == [(forged, "content_hash")]
    assert "SHA-256" in answer["rejected"][0]["reason"]
    assert answer["accepted"] == len(events) - 1  # the rest of the batch is recorded
    attacker.wait_done(sid)
    assert attacker.search("scamcoin") == []

    mine = victim.record([Page(url=PUBLIC_URL, title="Lighthouse", text=PUBLIC_TEXT)])
    victim.wait_done(mine)
    _eventually(lambda: victim.search("fresnel") and victim.timeline(mine)[0]["summary"])
    shown = _text_shown(victim, mine, "lighthouse")
    assert "Fresnel" in shown and "scamcoin" not in shown.lower()


def test_a_hash_sent_without_its_text_is_refused(victim: Person, attacker: Person) -> None:
    private = "Patient record: diagnosis xylophonitis, appointment on Tuesday. " * 10
    mine = victim.record(
        [Page(url=f"https://clinic.example/p/{victim.user_id[:8]}", title="Record", text=private)]
    )
    victim.wait_done(mine)
    _eventually(lambda: victim.search("xylophonitis"))  # the victim's own text is searchable

    # The attacker names the victim's text by its hash alone, on a page of their own.
    sid, events = attacker.session_events(
        [Page(url="https://attacker.example/", text="", content_hash=sha256(private))]
    )
    answer = attacker.upload(events)
    assert [r["field"] for r in answer["rejected"]] == ["content_hash"]
    attacker.wait_done(sid)
    shown = _text_shown(attacker, sid, "xylophonitis") + repr(attacker.export())
    assert "xylophonitis" not in shown.lower()


def test_the_first_reader_cannot_steer_the_shared_summary(victim: Person, attacker: Person) -> None:
    url = f"{PUBLIC_URL}?v={uuid7()[-6:]}"  # a page version nobody read yet
    lure = "Scamcoin giveaway Scamcoin"
    theirs = attacker.record([Page(url=url, title=lure, text=PUBLIC_TEXT)])
    attacker.wait_done(theirs)
    mine = victim.record([Page(url=url, title="Lighthouse", text=PUBLIC_TEXT)])
    victim.wait_done(mine)
    [visit] = _eventually(lambda: [v for v in victim.timeline(mine) if v["summary"]])
    assert visit["tags"]  # enriched, once, for both
    assert [v["summary"] for v in attacker.timeline(theirs)] == [visit["summary"]]
    assert "scamcoin" not in repr([visit, victim.mindmap(mine)]).lower()


def test_a_reused_client_id_and_seq_change_none_of_the_victims_visits(
    victim: Person, attacker: Person
) -> None:
    mine = victim.record(
        [Page(url="https://a.example/mine", title="Mine"), Page(url="https://b.example/mine")],
        first_seq=1,
    )
    victim.wait_done(mine)
    before = victim.timeline(mine)
    overview = victim.overview()
    theirs = attacker.record(
        [Page(url="https://evil.example/", dwell_ms=1_000), Page(url="https://evil.example/2")],
        client_id=victim.client_id,
        first_seq=1,
    )
    attacker.wait_done(theirs)
    assert len(attacker.timeline(theirs)) == 2
    assert victim.timeline(mine) == before
    assert [v["url"] for v in before] == ["https://a.example/mine", "https://b.example/mine"]
    assert victim.overview() == overview


def test_a_reused_session_id_changes_neither_the_victims_session_nor_map(
    victim: Person, attacker: Person, stack: Pipeline
) -> None:
    mine = victim.record([Page(url="https://a.example/map", title="Map", text=PUBLIC_TEXT)])
    victim.wait_done(mine)
    before = (victim.get(f"/v1/sessions/{mine}"), victim.mindmap(mine))

    _, events = attacker.session_events(
        [Page(url="https://evil.example/map", title="Hijacked")], session_id=mine
    )
    answer = httpx.post(
        f"{stack.gateway_url}/v1/events",
        content=msgspec.json.encode(
            EventBatch(batch_id=uuid7(), client_id=attacker.client_id, events=events)
        ),
        headers={"authorization": f"Bearer {attacker.token}", "content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code < 500, answer.text  # taken, or refused as someone else's
    # The attacker's next session is folded after whatever the hijack produced (one
    # partition per user, read in order): once it is ready, so is the hijack's outcome.
    later = attacker.record([Page(url="https://evil.example/later")])
    attacker.wait_done(later)
    assert (victim.get(f"/v1/sessions/{mine}"), victim.mindmap(mine)) == before
    assert "Hijacked" not in repr(before)


def _eventually(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """``check()`` once it returns something truthy (enrichments land after the map)."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{check} stayed falsy")
        time.sleep(0.5)
    return found
