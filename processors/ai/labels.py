"""Names a person would give a group of pages: short noun phrases from titles and headings.

Why this shape: people name a topic with the words its pages put in their titles
("Espresso extraction", "Chess openings", "Home solar panels"), not with the two
statistically strongest body words. Every run of one to three adjacent content words in
a member page's title (its site part too: forum pages carry their community's name,
"r/espresso", "Tennis Forum") or headings is a candidate. A candidate scores by how many
of the group's pages use it (in the title or site name most, in headings less, in the
body's lead a little), how much it belongs to this group rather than the others, and how
rare its words are in everyday English. Weak candidates are ruled out by rule, not by
weight: a single word must be used by at least :data:`SINGLE_COVER` of a group's pages
(one page's "Leggy" does not name five) and words that name a kind of site ("Forum")
never start or end a label; a site's run-together slug is read as its two words
("r/vegetablegardening" → "vegetable gardening", :func:`unslug`). The best
candidate wins; a longer phrase that contains it and scores nearly as well is preferred
(more specific). Labels are written in sentence case, keeping capitals only where the
pages themselves do (names, acronyms).

A best phrase can still be weak: when each page names its own corner of a subject, the
phrase is one few pages use (football pages share only "World", cooking pages one
recipe's "Neapolitan pizza dough"). With word vectors at hand, a group of several
pages whose phrase covers less than :data:`WEAK_COVER` of them is named by the
everyday subject nearest its words (:func:`processors.ai.topics.nearest_topic`:
"Football", "Cooking"), when one is clearly nearest and no other group has it;
otherwise, and without vectors, the phrase stays. The words weigh as the phrases do
(where the pages use them, how much they belong to this group, how rare they are).

A group of several pages is summarized by its pages' own subjects (each page's phrases
as it would be named alone among the group's pages, made the noun phrase its title
holds by :mod:`processors.ai.subjects`), a smaller one by its best sentence
(:mod:`processors.ai.summaries`). All functions are pure and deterministic.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar

import msgspec
from wordfreq import zipf_frequency

from processors.ai.features import WordLookup, headings, main_title, rarity, title_parts
from processors.ai.subjects import choose_subject, page_cues
from processors.ai.summaries import LIST_PAGES, best_sentence, subject_list
from processors.ai.text import GENERIC_WORDS, content_runs, short_label, split_sentences, stem
from processors.ai.topics import nearest_topic

__all__ = ["GroupNames", "LabelPage", "name_groups", "proper_words", "sentence_case", "unslug"]

SOURCE_WEIGHTS = {"title": 1.0, "heading": 0.5, "site": 1.0, "body": 0.3}
"""How much a page using a phrase in each place counts towards the phrase's support."""

NAMING_SOURCES = ("title", "heading", "site")
"""Where a label may come from: the title (its site part too: "r/espresso") and headings."""

SITE_WORDS = frozenset({"forum", "forums", "community", "thread", "threads", "discussion"})
"""Words that name a kind of site, not a subject ("Bike Forum" names bikes)."""

PARTICLES = frozenset(
    {"de", "del", "della", "der", "des", "di", "du", "la", "le", "les", "van", "von", "y"}
)
"""Particles of names ("Tour du Mont Blanc", "Torres del Paine"): written in lower case they
never start or end a label ("du Mont Blanc")."""

SLUG_ZIPF = 2.5
"""A site name's word rarer than this that splits into two everyday words is a slug."""
SINGLE_COVER = 0.3
"""In a group of several pages, a one-word label must be used by this share of them."""

LONGER_SHARE = 0.6
"""A phrase containing the best one wins if it scores at least this share of the best."""

UNKNOWN_CAP = 1.25
"""Cap on a word's rarity when naming (see :func:`_key_rarity`)."""

WEAK_COVER = {1: 0.6, 2: 0.3, 3: 0.3}
"""A best phrase covering less than this share of a group's pages (by its count of words)
may yield to a subject: a lone word must cover more, it says less ("World", "Fund")."""

MAX_WORDS = 3
BODY_WORDS = 250
"""Like the grouping, only the body's lead counts (a long guide mentions everything)."""

Key = tuple[str, ...]
T = TypeVar("T", str, Key)
_LETTERS = re.compile(r"[^\W\d_]+")


class LabelPage(msgspec.Struct, frozen=True, kw_only=True):
    """What naming needs of a page: its title, text, dwell and URL (its slug's words)."""

    title: str
    text: str
    dwell_ms: int = 0
    url: str = ""


class GroupNames(msgspec.Struct, frozen=True, kw_only=True):
    """A group's label, its top words (for explanations) and a one-sentence summary."""

    label: str
    words: list[str]
    summary: str


def _sources(page: LabelPage) -> list[tuple[str, str]]:
    main = main_title(page.title)
    heads = headings(page.text)
    body = " ".join(page.text.split()[:BODY_WORDS])
    site = " ".join(part for part in title_parts(page.title) if part != main)
    site = _LETTERS.sub(lambda match: unslug(match.group(0)), site)
    return [("title", main), ("heading", ". ".join(heads)), ("site", site), ("body", body)]


def _phrases(text: str) -> dict[Key, str]:
    """Every 1–3 word run of content words: stemmed key → surface form."""
    found: dict[Key, str] = {}
    for run in content_runs(text):
        for size in range(1, MAX_WORDS + 1):
            for start in range(len(run) - size + 1):
                words = run[start : start + size]
                key = tuple(stem(w.lower()) for w in words)
                if {key[0], key[-1]} & (GENERIC_WORDS | SITE_WORDS):
                    continue
                if words[0] in PARTICLES or words[-1] in PARTICLES:  # as written: lower case
                    continue
                found.setdefault(key, " ".join(words))
    return found


class _PageTerms(msgspec.Struct):
    weight: dict[Key, float]
    surface: dict[Key, str]
    named: set[Key]
    words: dict[str, float]


def _page_terms(page: LabelPage) -> _PageTerms:
    weight: dict[Key, float] = {}
    surface: dict[Key, str] = {}
    named: set[Key] = set()
    words: dict[str, float] = {}
    for kind, text in _sources(page):
        for word in (w.lower() for run in content_runs(text) for w in run):
            words[word] = max(words.get(word, 0.0), SOURCE_WEIGHTS[kind])
        for key, form in _phrases(text).items():
            weight[key] = max(weight.get(key, 0.0), SOURCE_WEIGHTS[kind])
            if kind in NAMING_SOURCES:
                named.add(key)
                surface.setdefault(key, form)
    return _PageTerms(weight=weight, surface=surface, named=named, words=words)


def _sums(
    per_page: Sequence[Mapping[T, float]], members: list[int]
) -> tuple[defaultdict[T, float], defaultdict[T, float]]:
    """Each term's weights summed over the group's pages (``members``) and over the rest."""
    inside: defaultdict[T, float] = defaultdict(float)
    outside: defaultdict[T, float] = defaultdict(float)
    member_set = set(members)
    for index, weights in enumerate(per_page):
        target = inside if index in member_set else outside
        for term, weight in weights.items():
            target[term] += weight
    return inside, outside


def _topic(terms: list[_PageTerms], members: list[int], lookup: WordLookup) -> str | None:
    """The everyday subject nearest the group's words (see module doc), or ``None``."""
    inside, outside = _sums([page.words for page in terms], members)
    weights = {
        word: support * (support / (support + outside[word])) ** 2 * rarity(word) ** 2
        for word, support in inside.items()
    }
    return nearest_topic(weights, lookup)


@lru_cache(maxsize=4096)
def unslug(word: str) -> str:
    """A site name's run-together word split into its two words, else the word itself.

    ``"vegetablegardening"`` → ``"vegetable gardening"``, ``"Homebrewing"`` →
    ``"Home brewing"``: a word rarer than :data:`SLUG_ZIPF` that splits into two everyday
    words (Zipf ≥ 3 each). Real compounds are common enough to stay ("snowboarding").
    """
    lower = word.lower()
    if len(lower) < 8 or not lower.isalpha() or zipf_frequency(lower, "en") >= SLUG_ZIPF:
        return word
    cuts = [
        (min(zipf_frequency(lower[:cut], "en"), zipf_frequency(lower[cut:], "en")), cut)
        for cut in range(3, len(lower) - 2)
    ]
    best, cut = max(cuts)
    return f"{word[:cut]} {word[cut:]}" if best >= 3.0 else word


def _key_rarity(key: Key) -> float:
    # Words unknown to the frequency list are often slugs or run-together names
    # ("vegetablegardening"): count them as ordinary subject words, not as the rarest.
    return sum(min(rarity(word), UNKNOWN_CAP) for word in key) / len(key)


def _scores(
    terms: list[_PageTerms], members: list[int]
) -> tuple[dict[Key, float], dict[Key, float]]:
    inside, outside = _sums([page.weight for page in terms], members)
    named = Counter(key for i in members for key in terms[i].named)
    scores: dict[Key, float] = {}
    cover = {key: inside[key] / len(members) for key in named}
    for key, titles in named.items():
        support = inside[key]
        belongs = support / (support + outside[key])
        coverage = 0.5 + titles / len(members)
        scores[key] = (
            support * belongs**2 * coverage * _key_rarity(key) * (1.0 + 0.1 * (len(key) - 1))
        )
    return scores, cover


def _pick(
    scores: dict[Key, float], taken: set[Key], named: Counter[Key], cover: dict[Key, float]
) -> Key | None:
    """The best phrase not taken, or a longer one containing it that scores nearly as well.

    In a group of several pages the longer phrase must name at least two of them, and a
    single word used by fewer than :data:`SINGLE_COVER` of them is a last resort.
    """
    ranked = sorted(scores, key=lambda key: (-scores[key], key))
    several = max(named.values(), default=0) >= 2
    # One-word candidates too few pages use come last, not never.
    weak = [k for k in ranked if len(k) == 1 and cover[k] < SINGLE_COVER and several]
    for best in [k for k in ranked if k not in weak] + weak:
        if best in taken:
            continue
        longer = [
            key
            for key in ranked
            if len(key) > len(best)
            and key not in taken
            and _contains(key, best)
            and scores[key] >= LONGER_SHARE * scores[best]
            and (named[key] >= 2 or not several)
        ]
        return max(longer, key=lambda key: (len(key), scores[key])) if longer else best
    return None


def _contains(longer: Key, shorter: Key) -> bool:
    return any(
        longer[i : i + len(shorter)] == shorter for i in range(len(longer) - len(shorter) + 1)
    )


def _keeps_case(word: str, proper: set[str]) -> bool:
    return sum(c.isupper() for c in word) >= 2 or word in proper


def sentence_case(phrase: str, proper: set[str], *, first_upper: bool = True) -> str:
    """Sentence case: later words lower case unless acronyms or names (``proper``).

    ``"Solar Panel Output"`` → ``"Solar panel output"``; ``"Caro-Kann Defence"`` keeps
    ``Caro-Kann`` when the pages write it capitalized inside sentences.
    """
    words = phrase.split()
    shaped = [w if _keeps_case(w, proper) else w.lower() for w in words]
    if first_upper and shaped:
        shaped[0] = shaped[0][:1].upper() + shaped[0][1:]
    return " ".join(shaped)


def proper_words(texts: Sequence[str]) -> set[str]:
    """Words the texts capitalize inside sentences and never write in lower case (names)."""
    capital: set[str] = set()
    lower: set[str] = set()
    for text in texts:
        for sentence in split_sentences(" ".join(text.split())):
            for position, word in enumerate(sentence.split()):
                word = word.strip(".,;:!?()[]\"'“”‘’")
                if not word:
                    continue
                if word.islower():
                    lower.add(word)
                elif position > 0 and word[:1].isupper():
                    capital.add(word)
    return {word for word in capital if word.lower() not in lower}


def _surface(key: Key, terms: list[_PageTerms], members: list[int]) -> str:
    forms = Counter(terms[i].surface[key] for i in members if key in terms[i].surface)
    return forms.most_common(1)[0][0] if forms else " ".join(key)


def _subject(
    terms: list[_PageTerms], members: list[int], page: LabelPage, index: int
) -> tuple[str, set[str]]:
    """Page ``index``'s own subject among ``members``: its phrases as if it were a group
    alone, best first, made the noun phrase naming it (:mod:`processors.ai.subjects`)."""
    inner = [terms[i] for i in members]
    own = members.index(index)
    scores, cover = _scores(inner, [own])
    named = Counter(inner[own].named)

    def candidates() -> Iterator[str]:
        taken: set[Key] = set()
        while (key := _pick(scores, taken, named, cover)) is not None:
            taken.add(key)
            yield _surface(key, inner, [own])

    return choose_subject(candidates(), page_cues(page.title, page.text, page.url))


def _summary(
    pages: Sequence[LabelPage],
    members: list[int],
    words: set[str],
    context: tuple[list[_PageTerms], set[str]],
) -> str:
    """The branch summary (:mod:`processors.ai.summaries`); ``context``: terms, names."""
    ordered = sorted(members, key=lambda i: (-pages[i].dwell_ms, i))
    if len(members) >= LIST_PAGES:
        terms, proper = context
        subjects = (_subject(terms, members, pages[i], i) for i in ordered)
        listed = subject_list(
            (sentence_case(s, proper | keep, first_upper=False) for s, keep in subjects),
            len(members),
        )
        if listed is not None:
            return listed
    texts = [pages[i].text for i in ordered]
    return best_sentence(texts, words, main_title(pages[members[0]].title))


def _distinct(label: str, used: set[str], max_chars: int) -> str:
    """``label``, numbered (``"Other pages (2)"``) if an earlier group already has it."""
    candidate, number = label, 1
    while candidate.lower() in used:
        number += 1
        suffix = f" ({number})"
        candidate = short_label(label, max_chars - len(suffix)) + suffix
    used.add(candidate.lower())
    return candidate


def name_groups(
    pages: Sequence[LabelPage],
    groups: Sequence[int],
    *,
    max_chars: int = 40,
    lookup: WordLookup | None = None,
) -> list[GroupNames]:
    """A label, top words and a summary for every group number in ``groups`` (in order).

    Labels are distinct across groups (a group whose best phrase is taken gets its next
    best) and at most ``max_chars`` long. ``lookup`` (word vectors) lets a group whose
    best phrase is weak take an everyday subject's name (module doc); ``None`` keeps
    the phrases.
    """
    terms = [_page_terms(page) for page in pages]
    proper = proper_words([page.text for page in pages])
    members_of: list[list[int]] = [[] for _ in range(max(groups, default=-1) + 1)]
    for index, group in enumerate(groups):
        members_of[group].append(index)
    order = sorted(range(len(members_of)), key=lambda g: (-len(members_of[g]), g))
    taken: set[Key] = set()
    used: set[str] = set()
    named: dict[int, GroupNames] = {}
    for group in order:
        members = members_of[group]
        scores, cover = _scores(terms, members)
        key = _pick(scores, taken, Counter(k for i in members for k in terms[i].named), cover)
        if key is None:
            label = short_label(main_title(pages[members[0]].title) or "Other pages", max_chars)
        else:
            taken.add(key)
            label = sentence_case(_surface(key, terms, members), proper)
            if lookup is not None and len(members) >= 2 and cover[key] < WEAK_COVER[len(key)]:
                topic = _topic(terms, members, lookup)
                label = topic if topic is not None and topic.lower() not in used else label
        singles = sorted((k for k in scores if len(k) == 1), key=lambda k: (-scores[k], k))[:5]
        words = [_surface(k, terms, members).lower() for k in singles]
        summary = _summary(pages, members, {k[0] for k in singles}, (terms, proper))
        named[group] = GroupNames(
            label=_distinct(short_label(label, max_chars), used, max_chars),
            words=words,
            summary=summary,
        )
    return [named[group] for group in range(len(members_of))]
