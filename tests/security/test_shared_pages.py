"""Pages two users read: nothing one of them sent reaches the other's view (issue 12).

The real gateway, processors, projector and dashboard run as processes; an attacker and
a victim each sign up, create a device token and upload browsing through the gateway
as the extension does, then read their timeline, search, mind map, overview and export
over HTTP.

* Titles are per user: the attacker visits the URL of the victim's webmail inbox with
  an empty title and sees no title the victim's browser sent (before: the shared urls
  row's title, the victim's, filled the gap; search found it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline
from tests.security._stack import Page, Person, running_stack

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
