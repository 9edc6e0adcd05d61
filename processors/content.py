"""Content store: page text kept once per content hash, enrichments once per URL version.

Page text is the bulk of the raw log. Keeping it here, keyed by the SHA-256 of
the text, lets everything downstream refer to a page version by
``(url_hash, content_hash)`` instead of repeating the text, and lets a client or
the gateway ask whether a hash is already known before sending text again
(:meth:`ContentStore.has_text`).

Keys (all under ``Settings.key_prefix``; single-key commands or reads split per slot,
and the one script's keys share a hash tag, so Redis Cluster safe):

``<prefix>:content:{<content_hash>}``            zlib-compressed page text (SET NX: written once)
``<prefix>:urlver:<url_hash>:<content_hash>``    "1" once the URL version was announced (kept in
                                                 memory once seen: :mod:`processors.announced`)
``<prefix>:urlver-token``                        deleted with any marker: drops what is kept
``<prefix>:enrich2:<url_hash>:<content_hash>``   msgpack :class:`CachedEnrichment` (``2``: from the
                                                 URL and text only; the older ``enrich:``
                                                 answers saw a first reader's title and
                                                 are never reused)
``<prefix>:enrich-lock:<url_hash>:<content_hash>`` short lock so two workers never enrich twice
``<prefix>:mindmap-done:<user_id>:<session_id>``  "1" once a session's map was emitted (30 days)
``<prefix>:user-content:<user_id>``               set of the content hashes / URL versions a
                                                 user brought in, so erasure can remove them
``<prefix>:content-holders:{<content_hash>}``     set of the users whose uploads carry the text
                                                 (sent in full or, already known, by hash; in
                                                 the text's slot: ``release_text.lua``)

With a lifetime (``ttl_s``, ``MINDHIT_CONTENT_TTL_DAYS``) every key above but the lock and
the map marker expires that long after its last use: a text, its holders and the
uploader's listing are renewed each time an upload carries or names the text (the
gateway renews the text when it finds it known), URL versions and enrichments when
written. So what nobody has read for that long leaves Redis; PostgreSQL's
``page_texts`` keeps the durable copy. A version announced again after its marker
expired is announced and enriched again (both idempotent downstream).

It also reads a session's ownership key (``<prefix>:session-owner:<session_id>``,
written by the gateway: :mod:`mindhit.session_owners`).

Enrichments are content-addressed: a cached summary is reused only for the very
same text, so one user never sees another's summary of different content.

A page text is shared by everyone who read it; erasing one of them removes the
text only when no other user holds it (``release_text.lua``), so the others keep
the text of their pages (their uploads were sent without it, by hash).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis
from isal import isal_zlib

from mindhit.redis_client import get_many, is_cluster
from mindhit.replica_wait import replica_holds
from mindhit.session_owners import owners_of
from mindhit.streams import content_holders_key, content_key, url_versions_token_key
from processors.announced import AnnouncedVersions
from schema.events import ClientEvent, PageContent, text_matches

__all__ = ["CachedEnrichment", "ContentStore", "verified_contents"]

LOCK_MS = 120_000
DONE_TTL_S = 30 * 24 * 3600
"""How long a session's "map emitted" marker is kept (far beyond any redelivery)."""


def verified_contents(events: list[ClientEvent]) -> list[ClientEvent]:
    """``events`` with each page text that does not hash to its ``content_hash`` taken out.

    The gateway refuses such events; this keeps an entry logged before it did (or written
    around it) from storing text under another text's hash, where it would be shown to
    everyone who reads the real one. The event stays (its ``seq`` counts) with neither
    text nor hash: the page's content is unknown. Events sent by hash only (the gateway
    left out a text it had checked and the store holds) pass as they are.
    """
    if not any(isinstance(e, PageContent) and e.text and not text_matches(e) for e in events):
        return events
    return [
        msgspec.structs.replace(e, text="", content_hash="")
        if isinstance(e, PageContent) and e.text and not text_matches(e)
        else e
        for e in events
    ]


class CachedEnrichment(msgspec.Struct, frozen=True, kw_only=True):
    """An enrichment as cached: what the provider said and who said it when."""

    summary: str
    tags: list[str]
    topic: str
    provider: str
    enriched_ts: int


_ENRICH = "enrich2"
"""Key kind of cached enrichments (see the module docstring)."""
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CachedEnrichment)
_RELEASE_TEXT = resources.files("processors").joinpath("release_text.lua").read_text()
_TAKE_TEXTS = resources.files("processors").joinpath("take_texts.lua").read_text()


class ContentStore:
    """Redis-backed content-addressed store (see the module docstring for the keys)."""

    def __init__(self, client: aioredis.Redis, prefix: str, *, ttl_s: int = 0) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl_s or None
        self.versions = AnnouncedVersions(client, prefix, ttl_s=ttl_s)
        """The URL versions known announced (the markers, what was seen of them kept)."""

    def _key(self, kind: str, *parts: str) -> str:
        return ":".join((self._prefix, kind, *parts))

    async def put_texts(self, texts: Iterable[tuple[str, str]], user_id: str = "") -> None:
        """Store ``(content_hash, text)`` pairs not stored yet (first writer wins).

        With ``user_id``, the user holds each text (see :meth:`hold_texts`).
        """
        pipe = self._redis.pipeline(transaction=False)
        if self._queue_put(pipe, texts, user_id):
            await pipe.execute()

    def _queue_put(self, pipe: Any, texts: Iterable[tuple[str, str]], user_id: str) -> bool:
        stored = [(h, text) for h, text in texts if text]
        if user_id:
            self._queue_holds(pipe, [h for h, _ in stored], user_id)
        for content_hash, text in stored:
            key = content_key(self._prefix, content_hash)
            pipe.set(key, isal_zlib.compress(text.encode(), 1), nx=True)
            if self._ttl:
                pipe.expire(key, self._ttl)
        return bool(stored)

    async def hold_texts(self, hashes: Iterable[str], user_id: str) -> None:
        """Record that ``user_id``'s uploads carry these texts (sent by hash only).

        Erasing another holder then leaves the text in place.
        """
        pipe = self._redis.pipeline(transaction=False)
        if self._queue_holds(pipe, hashes, user_id):
            await pipe.execute()

    def _queue_holds(self, pipe: Any, hashes: Iterable[str], user_id: str) -> bool:
        """Queue ``user_id``'s hold on each text: one listing, one holder set per text."""
        unique = [h for h in dict.fromkeys(hashes) if h]
        if not unique:
            return False
        listing = self._key("user-content", user_id)
        pipe.sadd(listing, *(f"t:{h}" for h in unique))
        if self._ttl:
            pipe.expire(listing, self._ttl)
        for content_hash in unique:
            holders = content_holders_key(self._prefix, content_hash)
            pipe.sadd(holders, user_id)
            if self._ttl:
                pipe.expire(holders, self._ttl)
                pipe.expire(content_key(self._prefix, content_hash), self._ttl)
        return True

    async def take_entry(
        self,
        texts: Mapping[str, Iterable[tuple[str, str]]],
        held: Mapping[str, Iterable[str]],
        versions: Sequence[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """What one raw entry brings, in one round trip: returns its new URL versions.

        Stores each user's page texts (:meth:`put_texts`) and holds (:meth:`hold_texts`)
        and returns those of ``versions`` never announced (:meth:`unknown_versions`).
        """
        pipe = self._redis.pipeline(transaction=False)
        if is_cluster(self._redis):  # one command per key: the keys are in many slots
            for user_id, pairs in texts.items():
                self._queue_put(pipe, pairs, user_id)
            for user_id, hashes in held.items():
                self._queue_holds(pipe, hashes, user_id)
        else:
            self._queue_take_texts(pipe, texts, held)
        unique = list(dict.fromkeys(versions))
        if unique:
            return await self.versions.unknown(pipe, unique)
        if len(pipe):
            await pipe.execute()
        return []

    def _queue_take_texts(
        self,
        pipe: Any,
        texts: Mapping[str, Iterable[tuple[str, str]]],
        held: Mapping[str, Iterable[str]],
    ) -> None:
        """Queue what :meth:`_queue_put` and :meth:`_queue_holds` queue for every user, as
        one ``take_texts.lua`` call (a standalone Redis: the keys are in many cluster
        slots). The same writes; one command instead of one per key, which is what the
        client pays for (~20 µs each: a 16-entry batch held ~200 of them).
        """
        listings: list[str] = []
        counts: list[Any] = []
        holds: list[str] = []
        holders: list[str] = []
        stored: list[tuple[str, str]] = []
        prefix = self._prefix

        def hold(hashes: Iterable[str], user_id: str) -> None:
            unique = [h for h in dict.fromkeys(hashes) if h]
            if not unique:
                return
            listings.append(self._key("user-content", user_id))
            counts.append(len(unique))
            counts.extend(f"t:{h}" for h in unique)
            for content_hash in unique:
                holds.append(content_holders_key(prefix, content_hash))
                holds.append(content_key(prefix, content_hash))
                holders.append(user_id)

        for user_id, pairs in texts.items():
            put = [(h, text) for h, text in pairs if text]
            if user_id:
                hold([h for h, _ in put], user_id)
            stored.extend(put)
        for user_id, hashes in held.items():
            hold(hashes, user_id)
        if not listings and not stored:
            return
        keys = [*listings, *holds, *(content_key(prefix, h) for h, _ in stored)]
        args = [
            self._ttl or 0,
            len(listings),
            len(holders),
            len(stored),
            *counts,
            *holders,
            *(isal_zlib.compress(text.encode(), 1) for _, text in stored),
        ]
        pipe.eval(_TAKE_TEXTS, len(keys), *keys, *args)

    async def get_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        """Return the stored text of each known hash (unknown hashes are absent)."""
        wanted = [h for h in dict.fromkeys(hashes) if h]
        if not wanted:
            return {}
        values = await get_many(self._redis, [content_key(self._prefix, h) for h in wanted])
        return {
            h: isal_zlib.decompress(v).decode()
            for h, v in zip(wanted, values, strict=True)
            if v is not None
        }

    async def has_text(self, content_hash: str) -> bool:
        """Whether the text with this hash is stored (so a client need not send it again)."""
        return bool(await self._redis.exists(content_key(self._prefix, content_hash)))

    async def unknown_versions(self, versions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Those ``(url_hash, content_hash)`` pairs never announced before, in order
        (those seen announced before are answered from memory: :mod:`processors.announced`)."""
        unique = list(dict.fromkeys(versions))
        if not unique:
            return []
        return await self.versions.unknown(self._redis.pipeline(transaction=False), unique)

    async def mark_versions(
        self, versions: Iterable[tuple[str, str]], users: dict[tuple[str, str], str] | None = None
    ) -> None:
        """Record URL versions as announced (after their ``url.discovered`` was sent).

        ``users`` names who brought each version in, listed under that user for erasure.
        """
        pipe = self._redis.pipeline(transaction=False)
        if self.queue_mark_versions(pipe, versions, users):
            await pipe.execute()

    def queue_mark_versions(
        self,
        pipe: Any,
        versions: Iterable[tuple[str, str]],
        users: dict[tuple[str, str], str] | None = None,
    ) -> bool:
        """Queue :meth:`mark_versions`'s writes into ``pipe``; False when there are none."""
        queued = False
        for url_hash, content_hash in versions:
            pipe.set(self.versions.marker(url_hash, content_hash), b"1", ex=self._ttl)
            owner = (users or {}).get((url_hash, content_hash))
            if owner:
                listing = self._key("user-content", owner)
                pipe.sadd(listing, f"v:{url_hash}:{content_hash}")
                if self._ttl:
                    pipe.expire(listing, self._ttl)
            queued = True
        return queued

    async def get_enrichments(
        self, versions: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedEnrichment]:
        """Cached enrichments of the given URL versions (missing ones are absent)."""
        unique = [v for v in dict.fromkeys(versions) if v[1]]
        if not unique:
            return {}
        values = await get_many(self._redis, [self._key(_ENRICH, u, c) for u, c in unique])
        return {v: _decoder.decode(raw) for v, raw in zip(unique, values, strict=True) if raw}

    async def put_enrichment(
        self, url_hash: str, content_hash: str, value: CachedEnrichment
    ) -> None:
        """Cache the enrichment of one URL version."""
        await self._redis.set(
            self._key(_ENRICH, url_hash, content_hash), _encoder.encode(value), ex=self._ttl
        )

    async def lock_enrichment(self, url_hash: str, content_hash: str, owner: str) -> bool:
        """Take the short enrichment lock of a URL version; False if another worker holds it."""
        key = self._key("enrich-lock", url_hash, content_hash)
        return bool(await self._redis.set(key, owner, nx=True, px=LOCK_MS))

    async def unlock_enrichment(self, url_hash: str, content_hash: str) -> None:
        """Release the enrichment lock."""
        await self._redis.delete(self._key("enrich-lock", url_hash, content_hash))

    async def session_owner(self, session_id: str) -> str | None:
        """The user the session's ownership key names (:mod:`mindhit.session_owners`)."""
        return (await owners_of(self._redis, self._prefix, [session_id])).get(session_id)

    async def mindmap_done(self, user_id: str, session_id: str) -> bool:
        """Whether the user's session's mind map was already emitted (redelivery guard).

        Keyed by the user too: a session id is sent by a client, and another user's
        session of the same id must never pass for done.
        """
        key = self._key("mindmap-done", user_id, session_id)
        return bool(await self._redis.exists(key))

    async def mark_mindmap_done(self, user_id: str, session_id: str) -> None:
        """Record that the user's session's mind map was emitted."""
        await self._redis.set(self._key("mindmap-done", user_id, session_id), b"1", ex=DONE_TTL_S)

    async def forget_mindmap_done(self, user_id: str, session_id: str) -> None:
        """Forget that the map was emitted (``mindhit recover`` dropped the entry holding it)."""
        await self._redis.delete(self._key("mindmap-done", user_id, session_id))

    def _queue_release(self, pipe: Any, content_hash: str, user_id: str) -> None:
        """Queue ``release_text.lua`` for one text (EVAL: a cluster pipeline has no EVALSHA
        method, and the script is small)."""
        holders = content_holders_key(self._prefix, content_hash)
        pipe.eval(_RELEASE_TEXT, 2, holders, content_key(self._prefix, content_hash), user_id)

    async def release_texts(self, user_id: str, content_hashes: list[str]) -> int:
        """Release ``user_id``'s hold on these page texts (one session of theirs was
        erased and no other of their sessions read them); a text goes when nobody else
        holds it. Returns how many texts were deleted."""
        if not content_hashes:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for content_hash in content_hashes:
            self._queue_release(pipe, content_hash, user_id)
        pipe.srem(self._key("user-content", user_id), *(f"t:{h}" for h in content_hashes))
        results: list[Any] = await pipe.execute()
        return sum(int(r) for r in results[:-1])

    async def erase_user(self, user_id: str) -> int:
        """Remove the page texts, URL versions and enrichments ``user_id`` brought in.

        A page text goes only when no other user holds it; URL versions and their
        enrichments the user announced go (another reader's next visit announces
        and enriches the version again). Returns how many keys were deleted.
        """
        listing = self._key("user-content", user_id)
        members: Any = await self._redis.smembers(listing)  # type: ignore[misc]
        keys: list[str] = []
        releases = self._redis.pipeline(transaction=False)
        for member in (m.decode() for m in members):
            kind, _, rest = member.partition(":")
            if kind == "t":
                self._queue_release(releases, rest, user_id)
            elif kind == "v":
                url_hash, _, content_hash = rest.partition(":")
                keys.append(self._key("urlver", url_hash, content_hash))
                keys.append(self._key(_ENRICH, url_hash, content_hash))
        deleted = sum(int(r) for r in await releases.execute())  # one round trip for all texts
        # The versions' token goes with their markers (one transaction on one Redis) and a
        # replica holds that, so no worker keeps them as announced (processors/announced.py).
        token = url_versions_token_key(self._prefix)
        chunks = [keys[start : start + 500] for start in range(0, len(keys), 500)]
        if is_cluster(self._redis):  # a cluster's DEL of many slots: not in a transaction
            for chunk in chunks:
                deleted += int(await self._redis.delete(*chunk))
            await self._redis.delete(token)
        else:
            pipe = self._redis.pipeline(transaction=True)
            for chunk in chunks:
                pipe.delete(*chunk)
            pipe.delete(token)
            deleted += sum(int(r) for r in (await pipe.execute())[: len(chunks)])
        await replica_holds(self._redis, self._prefix, token)  # none: returns at once
        return deleted + int(await self._redis.delete(listing))  # last (DELs failed half-way)
