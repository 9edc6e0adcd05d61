"""Benchmark: do the offline provider's page topics and tags name what a page is about?

Runs :func:`processors.ai.local.enrich_page` as production does (``title=""``: the shared
enrichment never sees a reader's title; the normalized URL and the text only) over the
labelled corpus (``tests/unit/corpus/labelled/``, 16 topics) and the demo pages of
``mindhit demo`` (``mindhit/corpus/pages.json``, 6 topics), and prints each page's topic
and tags, then per half:

* **topic hit**: the share of pages whose topic shares a word stem (the mind-map bench's
  :func:`stem_key`) with the page's title or its labelled topic name ("Transfer Window"
  for "How the Football Transfer Window Works"; "Rate" for a mortgage page hits too, so
  the figure is an upper bound on sensible topics, not a proof);
* **title hit**, **name hit**: the same against the title alone, the topic name alone
  (the URL's slug often repeats the title's words; the topic's name does not);
* **multi-word topics**: the share of topics that are a phrase of two or more words;
* **weak tags**: the share of tags that are a single verb, adverb or function/time word
  ("happen", "left", "quickly", "january", "thousand"). How it is judged: a fixed word
  list in this file (:data:`WEAK_WORDS`), written by hand by reading every single-word
  tag the provider gave before this bench's first change and picking the words whose
  usual use is not as a noun (participles and -ing forms used as verbs included,
  words that are as often nouns — "set", "run", "cut", "play", "leaves" — left out), plus
  words ending in "-ly" (save a few nouns). The list only knows the words it was written
  from, so every other single-word tag in a verb's form (ending in -ed, -ing or -s) is
  printed under *check by eye* for a reader to judge; the word vectors were tried as a
  judge (nearest hand-labelled seed words) and tell nouns from verbs too poorly ("city",
  "january" came out verbs, "water" an adjective);
* **weak topics**: the share of topics that are one such word.

The pages are split like the mind-map bench: the labelled corpus by its own halves, the
demo pages by position within their topic (even: tuning, odd: held-out). Tuning looked at
the tuning half only; two of the pages the change was asked for by name (the mortgage and
the penalty-kick pages) are in the held-out half, so the held-out figures are also given
without them (``heldout_unnamed_*``).

It also times ``enrich_page`` (µs per page, median of ``--repeat`` passes over all pages).

Last line (JSON): per half (``tune_``, ``heldout_``) ``topic_hit``, ``title_hit``, ``name_hit``,
``multiword_topic``, ``weak_tags``, ``weak_topic``, ``pages``, ``tags``; and
``us_per_page``.

Usage: ``python bench/page_topics.py [--repeat 3] [--quiet]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support.mindmap_naming import stems  # noqa: E402
from mindhit.corpus import load_pages  # noqa: E402
from processors.ai.base import Enrichment, PageInput  # noqa: E402
from processors.ai.local import enrich_page  # noqa: E402
from tests.unit.corpus.mixed import load_labelled  # noqa: E402

NAMED = ("fixed-vs-variable-rate", "how-to-take-a-penalty-kick")
"""URL tails of the held-out pages the change was asked for by name."""

# Verbs and verb forms ("absorbs" … "divide"), adverbs ("ahead" … "today"; and "-ly" words,
# see is_weak), then month, weekday, number and truth words.
_WEAK_TEXT = """
absorbs accepting add added adding aiming applying arrive avoid await begins behaves
boiled born bring brings build builds built buys calling chews choose choosing cleans
cleared clears closes combines confirmed creates crimps cushioned decide declining
deepens depleted deserves disappear divided dropping earned enrich enriched excrete
expect explain extend extends fails feels filtered finishes folded follow forget forgive
gained generates glides grab guessing happen hate hurts improving increasing insert
installed introduced invites isolated isomerize lags leave left lifting lose losing
loosen loosened lost meant mentioning opened opens overestimates overpay overpaying
panicking passes picked planned planted pollinate produce produces protect provide
pushing puts quit raise raises reads reapply reconnect relaxes remove removed repaid
repay repays replaces required returns reusing risen rushing saved sealed settle settled
showing shows sitting skips slowing sold sow sown sprayed spraying started starts stays
succeeds surprised taking tightened tilted touches trained transposes trapped unplug
validated varies wait warmed waxed weigh wipe won append matters happens shaping
orbiting divide ahead backwards completely earlier indoors inside outright today january
february march april may june july august september october november december monday
tuesday wednesday thursday friday saturday sunday thousand thirty ninety hundred true
false
"""

WEAK_WORDS: frozenset[str] = frozenset(_WEAK_TEXT.split())
"""Single words judged weak as a tag (see the module docstring for how)."""

_LY_NOUNS = frozenset({"family", "italy", "july", "supply", "assembly", "rally", "belly", "ally"})


def is_weak(tag: str) -> bool:
    """A single-word tag that is a verb, adverb or function/time word (see the doc)."""
    if " " in tag:
        return False
    return tag in WEAK_WORDS or (tag.endswith("ly") and tag not in _LY_NOUNS and len(tag) > 4)


class Row:
    """One page's result with what it is scored against."""

    def __init__(self, half: str, url: str, title: str, name: str, result: Enrichment) -> None:
        self.half, self.url, self.title, self.name, self.result = half, url, title, name, result


def corpus() -> list[tuple[str, str, str, str, str, str]]:
    """(half, url, title, topic name, text, lang) of every labelled and demo page."""
    out = [(p.half, p.url, p.title, p.topic_name, p.text, "en") for p in load_labelled()]
    seen: dict[str, int] = {}
    for page in load_pages():
        position = seen.get(page.topic, 0)
        seen[page.topic] = position + 1
        half = "tune" if position % 2 == 0 else "heldout"
        out.append((half, page.url, page.title, page.topic, page.text, page.lang or "en"))
    return out


def figures(rows: list[Row]) -> dict[str, float]:
    """The bench's figures over ``rows`` (see the module docstring)."""
    tags = [t for r in rows for t in r.result.tags]
    topics = [r.result.topic for r in rows]
    return {
        "topic_hit": statistics.fmean(
            bool(stems(r.result.topic) & stems(f"{r.title} {r.name}")) for r in rows
        ),
        "title_hit": statistics.fmean(bool(stems(r.result.topic) & stems(r.title)) for r in rows),
        "name_hit": statistics.fmean(bool(stems(r.result.topic) & stems(r.name)) for r in rows),
        "multiword_topic": statistics.fmean(" " in t.strip() for t in topics),
        "weak_tags": statistics.fmean(is_weak(t) for t in tags),
        "weak_topic": statistics.fmean(is_weak(t.lower()) for t in topics),
        "pages": len(rows),
        "tags": len(tags),
    }


def main() -> None:
    """Enrich every page, print each result and the figures, then the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing passes")
    parser.add_argument("--quiet", action="store_true", help="no per-page lines")
    args = parser.parse_args()
    pages = corpus()
    rows: list[Row] = []
    passes: list[float] = []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        results = [enrich_page(PageInput(url=p[1], title="", text=p[4], lang=p[5])) for p in pages]
        passes.append((time.perf_counter() - start) / len(pages) * 1e6)
    rows = [Row(p[0], p[1], p[2], p[3], r) for p, r in zip(pages, results, strict=True)]
    summary: dict[str, float] = {"us_per_page": statistics.median(passes)}
    for row in rows:
        if not args.quiet:
            print(
                f"{row.half[0].upper()} {row.title[:60]!r}\n    -> {row.result.topic!r} "
                f"{row.result.tags}"
            )
    for half in ("tune", "heldout"):
        chosen = [r for r in rows if r.half == half]
        found = figures(chosen)
        if half == "heldout":
            unnamed = [r for r in chosen if not r.url.endswith(NAMED)]
            summary.update({f"heldout_unnamed_{k}": v for k, v in figures(unnamed).items()})
        summary.update({f"{half}_{k}": v for k, v in found.items()})
        print(
            f"[{half}] pages {found['pages']}: topic hit {found['topic_hit']:.3f}, title hit "
            f"{found['title_hit']:.3f}, name hit {found['name_hit']:.3f}, multi-word topics "
            f"{found['multiword_topic']:.3f}, "
            f"weak tags {found['weak_tags']:.3f} of {found['tags']}, weak topics "
            f"{found['weak_topic']:.3f}"
        )
        weak = sorted({t for r in chosen for t in r.result.tags if is_weak(t)})
        print(f"[{half}] weak tags: {' '.join(weak)}")
        check = sorted(
            {
                t
                for r in chosen
                for t in r.result.tags
                if " " not in t and not is_weak(t) and t.endswith(("ed", "ing", "s"))
            }
        )
        print(f"[{half}] check by eye: {' '.join(check)}")
    print(f"enrich_page: {summary['us_per_page']:.0f} µs per page (median of {len(passes)})")
    print(json.dumps({k: round(v, 4) for k, v in summary.items()}))


if __name__ == "__main__":
    main()
