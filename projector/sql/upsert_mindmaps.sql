-- Write staged mind maps whole (a rebuilt map replaces the old one).
INSERT INTO {mindmap_graphs} AS m (session_id, user_id, graph, provider, built_at)
SELECT t.session_id::uuid, t.user_id::uuid, t.graph::jsonb, t.provider,
       timestamptz 'epoch' + t.built_at * interval '1 ms'
FROM tmp_mindmaps t
ON CONFLICT (session_id) DO UPDATE SET
    user_id = EXCLUDED.user_id, graph = EXCLUDED.graph, provider = EXCLUDED.provider,
    built_at = EXCLUDED.built_at
WHERE (m.*) IS DISTINCT FROM (EXCLUDED.*);
