-- Merge staged URL patches (projector.ops.merge_url), then store new page texts once.
UPDATE {urls} AS u SET
    url           = COALESCE(t.url, u.url),
    title         = COALESCE(t.title, u.title),
    domain        = COALESCE(t.domain, u.domain),
    lang          = COALESCE(t.lang, u.lang),
    first_seen_at = LEAST(u.first_seen_at, timestamptz 'epoch' + t.first_seen_at * interval '1 ms'),
    summary       = COALESCE(t.summary, u.summary),
    tags          = COALESCE(t.tags, u.tags),
    topic         = COALESCE(t.topic, u.topic),
    provider      = COALESCE(t.provider, u.provider),
    enriched_at   = COALESCE(timestamptz 'epoch' + t.enriched_at * interval '1 ms', u.enriched_at)
FROM tmp_urls t
WHERE u.url_hash = t.url_hash AND u.content_hash = t.content_hash;

INSERT INTO {urls} (url_hash, content_hash, user_id, url, title, domain, lang, first_seen_at,
                    summary, tags, topic, provider, enriched_at)
SELECT t.url_hash, t.content_hash, t.user_id::uuid, COALESCE(t.url, ''), COALESCE(t.title, ''),
       COALESCE(t.domain, ''), COALESCE(t.lang, ''),
       timestamptz 'epoch' + t.first_seen_at * interval '1 ms',
       COALESCE(t.summary, ''), COALESCE(t.tags, ARRAY[]::text[]), COALESCE(t.topic, ''),
       COALESCE(t.provider, ''), timestamptz 'epoch' + t.enriched_at * interval '1 ms'
FROM tmp_urls t
WHERE NOT EXISTS (SELECT 1 FROM {urls} u
                  WHERE u.url_hash = t.url_hash AND u.content_hash = t.content_hash);

INSERT INTO {page_texts} (content_hash, lang, text)
SELECT content_hash, lang, text FROM tmp_texts
ON CONFLICT (content_hash) DO NOTHING;
