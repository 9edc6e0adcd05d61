-- The latest title a user saw on a page, as the overview's top pages and the search's
-- results show it (one definition for both): the user's versions of the page by a skip
-- scan of page_visits_user_url_content_start, the latest titled visit of each by a
-- backward probe of the same index, the latest of those. Only the user's own visits
-- count, never those of the sessions in `hidden` (deleted, or in their undo window).
CREATE FUNCTION latest_title(p_user_id uuid, p_url_hash text, hidden uuid[])
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE versions AS (
        (SELECT v.content_hash FROM page_visits v
         WHERE v.user_id = p_user_id AND v.url_hash = p_url_hash
         ORDER BY v.content_hash LIMIT 1)
        UNION ALL
        SELECT nxt.content_hash
        FROM versions c
        CROSS JOIN LATERAL (
            SELECT v.content_hash FROM page_visits v
            WHERE v.user_id = p_user_id AND v.url_hash = p_url_hash
              AND v.content_hash > c.content_hash
            ORDER BY v.content_hash LIMIT 1
        ) nxt
    )
    SELECT latest.title
    FROM versions c
    CROSS JOIN LATERAL (
        SELECT v.title, v.start_at FROM page_visits v
        WHERE v.user_id = p_user_id AND v.url_hash = p_url_hash
          AND v.content_hash = c.content_hash AND v.title <> ''
          AND v.session_id <> ALL (hidden)
        ORDER BY v.start_at DESC LIMIT 1
    ) latest
    ORDER BY latest.start_at DESC LIMIT 1
$$;
