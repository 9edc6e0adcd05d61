-- Merge staged URL patches (projector.ops.merge_url: earliest discovery owns the page
-- fields, newest enrichment wins), then store new page texts once.
UPDATE {urls} AS u SET
    user_id       = CASE WHEN t.dwin THEN t.user_id::uuid
                         WHEN NOT t.discovered AND u.first_seen_at IS NULL
                         THEN LEAST(u.user_id, t.user_id::uuid)
                         ELSE u.user_id END,
    url           = CASE WHEN t.dwin THEN t.url ELSE u.url END,
    title         = CASE WHEN t.dwin THEN t.title ELSE u.title END,
    domain        = CASE WHEN t.dwin THEN t.domain ELSE u.domain END,
    lang          = CASE WHEN t.dwin THEN t.lang ELSE u.lang END,
    first_seen_at = CASE WHEN t.dwin THEN timestamptz 'epoch' + t.first_seen_at * interval '1 ms'
                         ELSE u.first_seen_at END,
    summary       = CASE WHEN t.ewin THEN t.summary ELSE u.summary END,
    tags          = CASE WHEN t.ewin THEN t.tags ELSE u.tags END,
    topic         = CASE WHEN t.ewin THEN t.topic ELSE u.topic END,
    provider      = CASE WHEN t.ewin THEN t.provider ELSE u.provider END,
    enriched_at   = CASE WHEN t.ewin THEN timestamptz 'epoch' + t.enriched_at * interval '1 ms'
                         ELSE u.enriched_at END
FROM (
    SELECT x.*,
        x.discovered AND (
            y.first_seen_at IS NULL
            OR (timestamptz 'epoch' + x.first_seen_at * interval '1 ms', x.user_id::uuid)
             < (y.first_seen_at, y.user_id)
        ) AS dwin,
        x.enriched_at IS NOT NULL AND (
            y.enriched_at IS NULL
            OR (timestamptz 'epoch' + x.enriched_at * interval '1 ms',
                COALESCE(x.provider, ''), COALESCE(x.summary, ''))
             > (y.enriched_at, y.provider, y.summary)
        ) AS ewin
    FROM tmp_urls x JOIN {urls} y ON y.url_hash = x.url_hash AND y.content_hash = x.content_hash
) AS t
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
