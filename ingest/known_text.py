"""Keep page text the pipeline already has out of the log.

Page text is the bulk of an upload. Once the processors have stored a text
(content-addressed by its SHA-256, :func:`mindhit.streams.content_key`), a later
``page.content`` with the same hash needs only the hash: the processors take the
text from the store. So the raw log grows with each distinct text once, not with
every visit that re-extracts it. With a content lifetime the check renews the text's
(``EXPIRE`` instead of ``EXISTS``): a text an upload is about to refer to by hash does
not expire before the processors read it.

Whether a text was known changes nothing in the answer: the upload is answered the
same either way (only the internal metrics count it). Nor in its time: a text is taken
as known only when the uploader already holds it (``content-holders``: their own
uploads carried it before). Known to the store through other users alone, it is logged
in full like a new one; leaving it out answered a 250 KB text sooner (its encoding,
~0.85 ms of CPU, and a ~130 KB write skipped), so anyone holding a page's exact text
could tell whether another user had read it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis

from mindhit.streams import content_holders_key, content_key
from schema.events import ClientEvent, PageContent

__all__ = ["ERASURE_SETTLE_MS", "drop_known_texts", "strip_texts", "texts_may_be_left_out"]

ERASURE_SETTLE_MS = 86_400_000
"""For how long after an account's erasure its uploads' texts are all logged in full (a day)."""


def texts_may_be_left_out(erased_at: int | None, now_ms: int) -> bool:
    """Whether an upload's known texts may be left out of the log (``now_ms`` and the
    account's latest erasure cut ``erased_at``, Unix ms).

    Not within :data:`ERASURE_SETTLE_MS` of an erasure: the processors drop the user's
    holds, and the texts only the user held, when they fold the erasure, which may come
    after the gateway checked an upload sent once the extension was paired again. A text
    left out then was gone when the processors read its hash, and the page stayed
    without its text and summary. Logged in full it costs the log one more copy.

    >>> texts_may_be_left_out(None, 5), texts_may_be_left_out(0, 60_000)
    (True, False)
    >>> texts_may_be_left_out(0, ERASURE_SETTLE_MS + 1)
    True
    """
    return erased_at is None or now_ms - erased_at > ERASURE_SETTLE_MS


def strip_texts(events: Sequence[ClientEvent], known: set[str]) -> list[ClientEvent]:
    """Return ``events`` with the text removed from page contents whose hash is ``known``."""
    return [
        msgspec.structs.replace(e, text="")
        if isinstance(e, PageContent) and e.text and e.content_hash in known
        else e
        for e in events
    ]


async def drop_known_texts(
    client: aioredis.Redis,
    prefix: str,
    events: list[ClientEvent],
    ttl_s: int = 0,
    *,
    user_id: str,
) -> tuple[list[ClientEvent], int]:
    """Strip texts the content store holds for ``user_id``; return the events and how many
    were stripped.

    One round trip (pipelined, per distinct hash: ``EXISTS``, or ``EXPIRE ttl_s``
    renewing the text, and ``SISMEMBER`` of the text's holders), and only for uploads
    that carry page text at all. A text is known when it is stored and ``user_id``
    holds it.
    """
    hashes = sorted({e.content_hash for e in events if isinstance(e, PageContent) and e.text})
    if not hashes:
        return events, 0
    pipe = client.pipeline(transaction=False)
    for content_hash in hashes:
        if ttl_s:
            pipe.expire(content_key(prefix, content_hash), ttl_s)
        else:
            pipe.exists(content_key(prefix, content_hash))
        pipe.sismember(content_holders_key(prefix, content_hash), user_id)
    found = await pipe.execute()
    known = {
        h
        for h, present, held in zip(hashes, found[::2], found[1::2], strict=True)
        if present and held
    }
    if not known:
        return events, 0
    stripped = sum(
        1 for e in events if isinstance(e, PageContent) and e.text and e.content_hash in known
    )
    return strip_texts(events, known), stripped
