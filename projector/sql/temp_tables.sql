-- Per-connection staging tables the adapter COPYs a batch into (emptied at commit).
CREATE TEMP TABLE IF NOT EXISTS tmp_sessions (
    session_id text, user_id text, client_id text, label text,
    started_at bigint, stopped_at bigint, last_event_at bigint,
    status text, status_at bigint, status_reason text,
    active_ms bigint, page_count int, domain_count int
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tmp_urls (
    url_hash text, content_hash text, user_id text, discovered boolean, url text, title text, domain text,
    lang text, first_seen_at bigint, summary text, tags text[], topic text, provider text,
    enriched_at bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tmp_texts (
    content_hash text, lang text, text text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tmp_visits (
    visit_id text, user_id text, session_id text, client_id text, tab_id int,
    url_hash text, content_hash text, url text, title text, domain text,
    start_at bigint, end_at bigint, dwell_ms bigint, end_reason text, opened_seq bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tmp_mindmaps (
    session_id text, user_id text, graph text, provider text, built_at bigint
) ON COMMIT DELETE ROWS;
