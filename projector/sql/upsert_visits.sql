-- Write staged visits whole; a redelivered identical visit changes nothing.
INSERT INTO {page_visits} AS v (visit_id, user_id, session_id, client_id, tab_id, url_hash,
                                content_hash, url, title, domain, start_at, end_at, dwell_ms,
                                end_reason, opened_seq)
SELECT t.visit_id::uuid, t.user_id::uuid, t.session_id::uuid, t.client_id, t.tab_id, t.url_hash,
       t.content_hash, t.url, t.title, t.domain,
       timestamptz 'epoch' + t.start_at * interval '1 ms',
       timestamptz 'epoch' + t.end_at * interval '1 ms',
       t.dwell_ms, t.end_reason, t.opened_seq
FROM tmp_visits t
ON CONFLICT (visit_id) DO UPDATE SET
    user_id = EXCLUDED.user_id, session_id = EXCLUDED.session_id,
    client_id = EXCLUDED.client_id, tab_id = EXCLUDED.tab_id, url_hash = EXCLUDED.url_hash,
    content_hash = EXCLUDED.content_hash, url = EXCLUDED.url, title = EXCLUDED.title,
    domain = EXCLUDED.domain, start_at = EXCLUDED.start_at, end_at = EXCLUDED.end_at,
    dwell_ms = EXCLUDED.dwell_ms, end_reason = EXCLUDED.end_reason,
    opened_seq = EXCLUDED.opened_seq
WHERE (v.*) IS DISTINCT FROM (EXCLUDED.*);
