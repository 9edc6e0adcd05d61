"""Pure helpers for user input and untrusted text: search snippets and the block list.

PostgreSQL's ``ts_headline`` marks matches with control characters (``\\x01`` … ``\\x02``)
instead of HTML, so page text never passes through as markup: we strip the markers and
return plain text plus character ranges, which the template wraps in escaped ``<mark>``.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from mindhit.domains import normalize_domain

__all__ = ["distinct_fragments", "normalize_domains", "snippet_parts", "split_highlights"]

_START, _STOP = "\x01", "\x02"
FRAGMENT_DELIMITER = " … "
"""Between ``ts_headline`` fragments, and between the summary and the text it searches."""


def split_highlights(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove match markers; return the plain text and the ``[start, end)`` match ranges."""
    text: list[str] = []
    ranges: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    for ch in marked:
        if ch == _START:
            start = length
        elif ch == _STOP:
            if start is not None and length > start:
                ranges.append((start, length))
            start = None
        else:
            text.append(ch)
            length += 1
    return "".join(text), ranges


def _plain(fragment: str) -> str:
    words = fragment.replace(_START, "").replace(_STOP, "").casefold().split()
    return " ".join(w.strip(".,;:!?…\"'()[]") for w in words).strip()


REPEAT_SHARE = 0.75
"""Two fragments repeat each other when one run of words covers this share of the shorter."""


def _repeats(a: str, b: str) -> bool:
    """Whether plain fragments ``a`` and ``b`` show the same passage (one inside the other,
    or cut at other words: ``ts_headline`` starts a fragment of the summary mid-sentence
    and the same sentence of the text at its start)."""
    if a in b or b in a:
        return True
    wa, wb = a.split(), b.split()
    run = SequenceMatcher(None, wa, wb, autojunk=False).find_longest_match()
    return run.size >= 3 and run.size >= REPEAT_SHARE * min(len(wa), len(wb))


def distinct_fragments(marked: str) -> str:
    """Drop headline fragments that repeat an earlier one.

    The snippet is cut from the summary and the page text, and a summary often quotes
    the text, so ``ts_headline`` would show the same passage twice. Fragments are compared
    as plain words (markers, case and punctuation ignored); of two that repeat each other
    (:func:`_repeats`) the longer stays, in the place of the first.
    """
    kept: list[tuple[str, str]] = []
    for fragment in marked.split(FRAGMENT_DELIMITER):
        plain = _plain(fragment)
        if not plain:
            continue
        same = next((i for i, (seen, _) in enumerate(kept) if _repeats(seen, plain)), None)
        if same is None:
            kept.append((plain, fragment.strip()))
        elif len(plain) > len(kept[same][0]):
            kept[same] = (plain, fragment.strip())
            kept = kept[: same + 1] + [k for k in kept[same + 1 :] if not _repeats(k[0], plain)]
    return FRAGMENT_DELIMITER.join(f for _, f in kept)


def snippet_parts(text: str, ranges: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """Cut ``text`` into ``(piece, highlighted)`` parts for rendering."""
    parts: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in sorted(ranges):
        start, end = max(start, cursor), min(end, len(text))
        if start >= end:
            continue
        if start > cursor:
            parts.append((text[cursor:start], False))
        parts.append((text[start:end], True))
        cursor = end
    if cursor < len(text):
        parts.append((text[cursor:], False))
    return parts


def normalize_domains(raw: str | list[str]) -> tuple[list[str], list[str]]:
    """Parse a block list (one per line or comma-separated); return ``(valid, invalid)``.

    Each entry as :func:`mindhit.domains.normalize_domain` reads it (``bücher.de`` →
    ``xn--bcher-kva.de``), de-duplicated in first-seen order; ``invalid`` keeps what the
    person typed.
    """
    items = re.split(r"[\s,]+", raw) if isinstance(raw, str) else list(raw)
    valid: list[str] = []
    invalid: list[str] = []
    for item in items:
        if not item.strip():
            continue
        entry = normalize_domain(item)
        if entry is None:
            invalid.append(item.strip())
        elif entry not in valid:
            valid.append(entry)
    return valid, invalid
