-- Append rows of a generation being built (one per re-derived entry and user).
COPY derived_log (generation, topic, partition, seq, origin, user_id, logged_at, value)
FROM STDIN
