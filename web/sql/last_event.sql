-- The newest raw event the pipeline has folded for the user, and their open sessions.
SELECT max(last_event_at), count(*) FILTER (WHERE status = 'recording'),
       count(*) FILTER (WHERE status = 'processing')
FROM sessions WHERE user_id = %(user_id)s
