"""Own sessions remembered by the gateway: spared the round trip, never anyone else's."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.owner_cache import OwnSessions

USERS = ["alice", "mallory"]
SESSIONS = ["s1", "s2", "s3"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_session_confirmed_as_the_uploaders_is_not_asked_again_until_it_expires() -> None:
    clock = Clock()
    own = OwnSessions(ttl_s=60, timer=clock)
    assert own.unknown("alice", ["s1", "s1", "s2"]) == ["s1", "s2"]
    own.remember("alice", {"s1": "alice", "s2": "alice"})
    clock.now = 59.9
    assert own.unknown("alice", ["s1", "s2", "s3"]) == ["s3"]
    clock.now = 60.0
    assert own.unknown("alice", ["s1", "s2"]) == ["s1", "s2"]


def test_another_users_session_is_always_asked() -> None:
    own = OwnSessions(ttl_s=60, timer=Clock())
    own.remember("mallory", {"s1": "alice", "s2": "mallory"})
    assert own.unknown("mallory", ["s1", "s2"]) == ["s1"]
    own.remember("alice", {"s1": "alice"})
    assert own.unknown("mallory", ["s1"]) == ["s1"]
    assert own.unknown("alice", ["s1", "s2"]) == ["s2"]


def test_the_oldest_sessions_are_forgotten_beyond_the_bound() -> None:
    own = OwnSessions(ttl_s=60, max_entries=2, timer=Clock())
    for session in SESSIONS:
        own.remember("alice", {session: "alice"})
    assert own.unknown("alice", SESSIONS) == ["s1"]


@given(
    st.fixed_dictionaries({s: st.sampled_from(USERS) for s in SESSIONS}),
    st.lists(st.tuples(st.sampled_from(USERS), st.sets(st.sampled_from(SESSIONS))), max_size=20),
    st.sampled_from(USERS),
)
def test_a_session_is_spared_only_for_its_owner(
    owners: dict[str, str], asked: list[tuple[str, set[str]]], uploader: str
) -> None:
    own = OwnSessions(ttl_s=60, timer=Clock())
    for user, sessions in asked:  # Redis names each session's one owner, whoever asks
        own.remember(user, {s: owners[s] for s in sessions})
    spared = set(SESSIONS) - set(own.unknown(uploader, SESSIONS))
    assert all(owners[session] == uploader for session in spared)
