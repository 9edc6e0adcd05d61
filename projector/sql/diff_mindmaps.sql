-- Sessions whose mind map differs between the live table and its shadow.
SELECT COALESCE(l.session_id, s.session_id)::text
FROM mindmap_graphs l FULL JOIN {shadow} s ON s.session_id = l.session_id
WHERE (l.graph, l.provider) IS DISTINCT FROM (s.graph, s.provider)
LIMIT %s
