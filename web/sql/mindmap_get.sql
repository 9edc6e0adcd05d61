-- The mind map of one of the user's sessions.
SELECT graph, provider, built_at FROM mindmap_graphs
WHERE session_id = %(session_id)s AND user_id = %(user_id)s
