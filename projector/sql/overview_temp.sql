-- What a batch adds to / takes from the overview's daily rollups (projector.overview).
CREATE TEMP TABLE IF NOT EXISTS tmp_overview (
    user_id uuid, day date, domain text, url_hash text, content_hash text, title text,
    dwell_ms bigint, visits int
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tmp_branch_sessions (
    user_id uuid, session_id uuid
) ON COMMIT DELETE ROWS;
