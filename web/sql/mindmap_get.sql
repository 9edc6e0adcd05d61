-- The mind map of one of the user's sessions (none for a session being deleted).
SELECT graph, provider, built_at FROM mindmap_graphs m
WHERE m.session_id = %(session_id)s AND m.user_id = %(user_id)s
  AND NOT EXISTS (SELECT 1 FROM session_deletions d
                  WHERE d.user_id = m.user_id AND d.session_id = m.session_id
                    AND d.state <> 'cancelled')
