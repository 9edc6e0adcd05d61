-- A session's visits in order, each with the AI summary/tags/topic of its page. Only a
-- content version this user actually saw is used (the visit's own, else another version
-- of the same URL from one of the user's visits): enrichment of a version someone else
-- saw (a personalized page) is never shown to this user. A title is the visit's own, else
-- the latest one this user saw on the same URL (not in a session they deleted): never
-- another user's title of the page.
SELECT v.visit_id::text, v.url, v.title, v.domain,
       (extract(epoch FROM v.start_at) * 1000)::bigint AS start_ts,
       (extract(epoch FROM v.end_at) * 1000)::bigint AS end_ts,
       v.dwell_ms, coalesce(u.summary, ''), coalesce(u.tags, '{}'), coalesce(u.topic, ''),
       coalesce(nullif(v.title, ''), (
           SELECT o.title FROM page_visits o
           WHERE o.user_id = v.user_id AND o.url_hash = v.url_hash AND o.title <> ''
             AND NOT EXISTS (SELECT 1 FROM session_deletions d
                             WHERE d.user_id = o.user_id AND d.session_id = o.session_id
                               AND d.state <> 'cancelled')
           ORDER BY o.start_at DESC LIMIT 1), '') AS best_title
FROM page_visits v
LEFT JOIN LATERAL (
    SELECT summary, tags, topic FROM urls
    WHERE urls.url_hash = v.url_hash
      AND (urls.content_hash = v.content_hash OR urls.content_hash IN (
          SELECT mine.content_hash FROM page_visits mine
          WHERE mine.user_id = v.user_id AND mine.url_hash = v.url_hash
      ))
    ORDER BY (urls.content_hash = v.content_hash) DESC, (urls.summary <> '') DESC,
             urls.enriched_at DESC NULLS LAST
    LIMIT 1
) u ON true
WHERE v.session_id = %(session_id)s AND v.user_id = %(user_id)s
ORDER BY v.start_at, v.end_at, v.visit_id
LIMIT %(limit)s
