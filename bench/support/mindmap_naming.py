"""What a person notices in a mind map's names: the root label and everyday subject names.

Used by :mod:`bench.mindmap_quality`; pure functions over a built map and the true topics.

**Root label score**: a session's root label is right when its first part (the root is
``"<first> and <second>"`` or one label) shares a word stem with the name of the topic
that has most of the session's time, and it has a second part only when that part
shares a stem with a topic holding at least :data:`SUBSTANTIAL` of the time (a one-page,
minute-long side trip does not name the session). The share of roots that name a
second topic holding at least :data:`DUE` of the time is printed beside it (what naming
the main topic alone would lose).

**Subject-name rate**: of the branches of two or more pages whose majority topic has an
everyday subject (:data:`processors.ai.topics.TOPICS`) of its own name or near it
(:data:`SUBJECTS`, :data:`DEMO_SUBJECTS`), the share named by that subject.

**Demo sessions** (:func:`demo_sessions`): the sessions ``mindhit demo`` plans from the
demo corpus, with each page's dwell as the time it was active (focused, not idle); the
tests' demo cases come from them, so their figures are not held out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from mindhit.cli.demo import plan_sessions
from mindhit.corpus import CorpusPage, load_pages
from processors.ai.base import MindmapPage
from schema.derived import MindmapNode
from schema.events import IdleState, PageContent, WindowFocus

__all__ = [
    "DEMO_SUBJECTS",
    "DUE",
    "SUBJECTS",
    "SUBSTANTIAL",
    "NameCounts",
    "count_names",
    "demo_sessions",
]

SUBSTANTIAL = 0.25
"""A second topic named in the root must hold at least this share of the session's time."""
DUE = 0.4
"""A second topic holding this share or more is counted as due a place in the root."""

SUBJECTS: dict[str, tuple[str, ...]] = {
    "aquarium": ("Aquariums",),
    "bloodpressure": ("Heart health", "Health"),
    "chess": ("Chess", "Board games"),
    "cycling": ("Cycling",),
    "espresso": ("Coffee",),
    "ferment": ("Fermentation",),
    "garden": ("Gardening",),
    "heatpump": ("Home heating",),
    "homebrew": ("Beer brewing",),
    "marathon": ("Running",),
    "mortgage": ("Mortgages",),
    "snowboard": ("Snowboarding",),
    "solar": ("Solar power",),
    "surfing": ("Surfing",),
    "tennis": ("Tennis",),
}
"""The labelled corpus's topics (ids) → the everyday subjects a person would accept as
their name (``sourdough``: none, "Baking" is not in the list)."""

DEMO_SUBJECTS: dict[str, tuple[str, ...]] = {
    "cooking": ("Cooking",),
    "astronomy": ("Astronomy",),
    "python programming": ("Python programming", "Programming"),
    "hiking and travel": ("Hiking", "Travel"),
    "personal finance": ("Personal finance",),
    "football": ("Football",),
}
"""The demo corpus's topics → their everyday subjects."""

_NOW_MS = 1_800_000_000_000
"""The demo sessions' clock (their start times do not change their pages or dwell)."""
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s")


def stem_key(word: str) -> str:
    """A crude stem for the label score: lower case, common English suffixes dropped.

    A final ``e`` goes too, so a word and its plural or ``-ing`` form share one stem
    ("mortgage"/"mortgages", "refinance"/"refinancing", "vegetable"/"vegetables").
    """
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def stems(text: str) -> set[str]:
    """The stems of ``text``'s words of three letters or more."""
    return {stem_key(w) for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if len(w) > 2}


def leaves(node: MindmapNode) -> list[str]:
    """The URLs of a node's pages (every leaf below it)."""
    if not node.children:
        return [node.url] if node.url else []
    return [url for child in node.children for url in leaves(child)]


def root_verdict(
    label: str, shares: Mapping[str, float], names: Mapping[str, str]
) -> tuple[bool, bool]:
    """Whether a root label is right (module doc), and whether it names a second topic.

    Args:
        label: the root's label.
        shares: each true topic's share of the session's time.
        names: topic → its name.
    """
    parts = label.split(" and ", 1)
    main = max(sorted(shares), key=lambda topic: shares[topic])

    def named(part: str, topic: str) -> bool:
        return bool(stems(part) & stems(names[topic]))

    first = named(parts[0], main)
    if len(parts) == 1:
        return first, False
    others = [t for t in shares if t != main and named(parts[1], t)]
    second_ok = any(shares[t] >= SUBSTANTIAL for t in shares if named(parts[1], t))
    return first and second_ok, bool(others)


class NameCounts:
    """Running counts of the root label score and the subject-name rate."""

    def __init__(self) -> None:
        self.roots = self.roots_right = 0
        self.due = self.due_named = 0
        self.subject_branches = self.subject_named = 0

    def summary(self) -> dict[str, float]:
        """The root label score, the due second topics named, the subject-name rate."""
        return {
            "root_score": self.roots_right / max(self.roots, 1),
            "second_named": self.due_named / max(self.due, 1),
            "subject_rate": self.subject_named / max(self.subject_branches, 1),
        }

    def line(self, half: str) -> str:
        """One printable line of the figures."""
        s = self.summary()
        return (
            f"[{half}] root label score {s['root_score']:.3f} ({self.roots_right}/{self.roots}); "
            f"second topic of ≥ {DUE:.0%} named {self.due_named}/{self.due}; "
            f"subject-name rate {s['subject_rate']:.3f} "
            f"({self.subject_named}/{self.subject_branches} branches)"
        )


def count_names(
    counts: NameCounts,
    root: MindmapNode,
    topic_of: Mapping[str, str],
    dwell_of: Mapping[str, int],
    names: Mapping[str, str],
    subjects: Mapping[str, tuple[str, ...]],
) -> None:
    """Add one session's map to ``counts`` (page URL → true topic, → dwell)."""
    time: Counter[str] = Counter()
    for url, topic in topic_of.items():
        time[topic] += dwell_of[url]
    total = sum(time.values()) or 1
    shares = {topic: time[topic] / total for topic in time}
    right, second = root_verdict(root.label, shares, names)
    counts.roots += 1
    counts.roots_right += right
    ranked = sorted(shares.values(), reverse=True)
    if len(ranked) > 1 and ranked[1] >= DUE:
        counts.due += 1
        counts.due_named += second
    for branch in root.children:
        urls = leaves(branch)
        majority = Counter(topic_of[u] for u in urls).most_common(1)[0][0]
        if len(urls) >= 2 and subjects.get(majority):
            counts.subject_branches += 1
            counts.subject_named += branch.label in subjects[majority]


def _active_ms(events: Sequence[object]) -> dict[str, int]:
    """Each page's time while it was shown, the window focused and the user not idle."""
    spent: Counter[str] = Counter()
    current: str | None = None
    last: int | None = None
    active = True
    for event in events:
        ts = int(getattr(event, "ts", 0))
        if current is not None and active and last is not None:
            spent[current] += ts - last
        last = ts
        if isinstance(event, PageContent):
            current = event.url
        elif isinstance(event, IdleState):
            active = event.state == "active"
        elif isinstance(event, WindowFocus):
            active = event.focused
    return dict(spent)


def demo_sessions(
    seeds: Sequence[int], per_seed: int = 6
) -> list[tuple[list[MindmapPage], dict[str, str]]]:
    """The demo's planned sessions (``per_seed`` for each seed): pages and URL → topic."""
    corpus: list[CorpusPage] = load_pages()
    by_url = {page.url: page for page in corpus}
    found: list[tuple[list[MindmapPage], dict[str, str]]] = []
    for seed in seeds:
        for session in plan_sessions(
            corpus, sessions=per_seed, seed=seed, now_ms=_NOW_MS, client_id="bench"
        ):
            spent = _active_ms(session.events)
            urls = list(dict.fromkeys(e.url for e in session.events if isinstance(e, PageContent)))
            pages = [
                MindmapPage(
                    url=u, title=by_url[u].title, text=by_url[u].text, dwell_ms=spent.get(u, 0)
                )
                for u in urls
            ]
            found.append((pages, {u: by_url[u].topic for u in urls}))
    return found
