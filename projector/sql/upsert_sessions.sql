-- Merge staged session patches (projector.ops.merge_session, the same rules in SQL).
UPDATE {sessions} AS s SET
    client_id     = COALESCE(t.client_id, s.client_id),
    label         = COALESCE(t.label, s.label),
    started_at    = LEAST(s.started_at, timestamptz 'epoch' + t.started_at * interval '1 ms'),
    stopped_at    = GREATEST(s.stopped_at, timestamptz 'epoch' + t.stopped_at * interval '1 ms'),
    last_event_at = GREATEST(s.last_event_at, timestamptz 'epoch' + t.last_event_at * interval '1 ms'),
    status        = CASE WHEN t.win THEN t.status ELSE s.status END,
    status_at     = CASE WHEN t.win THEN timestamptz 'epoch' + t.status_at * interval '1 ms' ELSE s.status_at END,
    status_reason = CASE WHEN t.win THEN t.status_reason ELSE s.status_reason END,
    active_ms     = COALESCE(t.active_ms, s.active_ms),
    page_count    = COALESCE(t.page_count, s.page_count),
    domain_count  = COALESCE(t.domain_count, s.domain_count)
FROM (
    SELECT x.*, x.status IS NOT NULL AND (
        y.status_at IS NULL
        OR (timestamptz 'epoch' + x.status_at * interval '1 ms',
            CASE x.status WHEN 'recording' THEN 0 WHEN 'processing' THEN 1
                          WHEN 'completed' THEN 2 ELSE 3 END,
            COALESCE(x.status_reason, ''))
         > (y.status_at,
            CASE y.status WHEN 'recording' THEN 0 WHEN 'processing' THEN 1
                          WHEN 'completed' THEN 2 ELSE 3 END,
            y.status_reason)
    ) AS win
    FROM tmp_sessions x JOIN {sessions} y ON y.session_id = x.session_id::uuid
) AS t
WHERE s.session_id = t.session_id::uuid;

INSERT INTO {sessions} (session_id, user_id, client_id, label, started_at, stopped_at,
                        last_event_at, status, status_at, status_reason, active_ms,
                        page_count, domain_count)
SELECT t.session_id::uuid, t.user_id::uuid, COALESCE(t.client_id, ''), COALESCE(t.label, ''),
       timestamptz 'epoch' + t.started_at * interval '1 ms',
       timestamptz 'epoch' + t.stopped_at * interval '1 ms',
       timestamptz 'epoch' + t.last_event_at * interval '1 ms',
       COALESCE(t.status, 'recording'),
       timestamptz 'epoch' + t.status_at * interval '1 ms',
       COALESCE(t.status_reason, ''),
       COALESCE(t.active_ms, 0), COALESCE(t.page_count, 0), COALESCE(t.domain_count, 0)
FROM tmp_sessions t
WHERE NOT EXISTS (SELECT 1 FROM {sessions} s WHERE s.session_id = t.session_id::uuid);
