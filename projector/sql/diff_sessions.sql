-- Sessions whose row differs between the live table and its shadow (when the status was
-- entered does not count: a re-derived session enters it again at replay time).
SELECT COALESCE(l.session_id, s.session_id)::text, to_jsonb(l), to_jsonb(s)
FROM sessions l FULL JOIN {shadow} s ON s.session_id = l.session_id
WHERE to_jsonb(l) - 'status_at' IS DISTINCT FROM to_jsonb(s) - 'status_at'
LIMIT %s
