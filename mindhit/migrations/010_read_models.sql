-- Read models folded from the event log by the projector (projector/), plus the
-- durable archive of the log and the erasure tombstones.
--
-- Everything here except erased_users and event_log is disposable: `mindhit replay`
-- rebuilds it from the archive and the live tail. Column names are a contract with
-- the dashboard (web/): add columns freely, never rename or retype one.
--
-- Times are timestamptz (UTC); durations are milliseconds (bigint).

-- One browsing session. Created by the raw `session.started` event, completed by
-- the derived SessionClosed / SessionStatusChanged events.
CREATE TABLE sessions (
    session_id     uuid PRIMARY KEY,
    user_id        uuid NOT NULL,
    client_id      text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'recording'
                   CHECK (status IN ('recording', 'processing', 'completed', 'failed')),
    status_reason  text NOT NULL DEFAULT '',
    status_at      timestamptz,               -- when the current status was entered
    label          text NOT NULL DEFAULT '',
    started_at     timestamptz,
    stopped_at     timestamptz,               -- NULL while recording
    active_ms      bigint NOT NULL DEFAULT 0, -- attended time (idle excluded), set at close
    page_count     integer NOT NULL DEFAULT 0,
    domain_count   integer NOT NULL DEFAULT 0,
    last_event_at  timestamptz               -- newest raw event of the session
);
-- "A month of one user's sessions", newest first.
CREATE INDEX sessions_user_started ON sessions (user_id, started_at DESC);

-- Page text, stored once per content version (content-addressed by SHA-256 hex).
CREATE TABLE page_texts (
    content_hash  text PRIMARY KEY,
    lang          text NOT NULL DEFAULT '',
    text          text NOT NULL DEFAULT '',
    search        tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED
);
CREATE INDEX page_texts_search ON page_texts USING gin (search);

-- One normalized URL in one content version. content_hash is '' until the page's
-- text was seen. user_id is who discovered it (erasing that user removes the row).
CREATE TABLE urls (
    url_hash       text NOT NULL,
    content_hash   text NOT NULL DEFAULT '',
    user_id        uuid,
    url            text NOT NULL DEFAULT '',
    title          text NOT NULL DEFAULT '',
    domain         text NOT NULL DEFAULT '',
    lang           text NOT NULL DEFAULT '',
    summary        text NOT NULL DEFAULT '',
    tags           text[] NOT NULL DEFAULT '{}',
    topic          text NOT NULL DEFAULT '',
    provider       text NOT NULL DEFAULT '',
    first_seen_at  timestamptz,
    enriched_at    timestamptz,
    search         tsvector GENERATED ALWAYS AS (
                       setweight(to_tsvector('english'::regconfig, title), 'A')
                       || setweight(to_tsvector('english'::regconfig, topic), 'B')
                       || setweight(to_tsvector('english'::regconfig, summary), 'B')
                   ) STORED,
    PRIMARY KEY (url_hash, content_hash)
);
CREATE INDEX urls_search ON urls USING gin (search);
CREATE INDEX urls_content ON urls (content_hash);
CREATE INDEX urls_user ON urls (user_id);
-- Search what I read: users only ever search pages they visited, e.g.
--   SELECT DISTINCT ON (v.url_hash) v.* FROM page_visits v
--   JOIN urls u ON u.url_hash = v.url_hash AND u.content_hash = v.content_hash
--   LEFT JOIN page_texts t ON t.content_hash = v.content_hash
--   WHERE v.user_id = $1 AND (u.search @@ q OR t.search @@ q)
--   (q = websearch_to_tsquery('english', $2))

-- One closed visit: a page was the attended tab from start_at to end_at.
CREATE TABLE page_visits (
    visit_id      uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    session_id    uuid NOT NULL,
    client_id     text NOT NULL,
    tab_id        integer NOT NULL DEFAULT -1,
    url_hash      text NOT NULL,
    content_hash  text NOT NULL DEFAULT '',
    url           text NOT NULL,
    title         text NOT NULL DEFAULT '',
    domain        text NOT NULL DEFAULT '',
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL,
    dwell_ms      bigint NOT NULL,
    end_reason    text NOT NULL DEFAULT '',
    opened_seq    bigint NOT NULL DEFAULT 0
);
-- One session's timeline.
CREATE INDEX page_visits_session ON page_visits (session_id, start_at);
-- One user's history and "what did I read on X" lookups.
CREATE INDEX page_visits_user_start ON page_visits (user_id, start_at DESC);
CREATE INDEX page_visits_user_url ON page_visits (user_id, url_hash);

-- The mind map of a finished session (MindmapNode tree as JSON).
CREATE TABLE mindmap_graphs (
    session_id  uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    graph       jsonb NOT NULL,
    provider    text NOT NULL DEFAULT '',
    built_at    timestamptz NOT NULL
);
CREATE INDEX mindmap_graphs_user ON mindmap_graphs (user_id);

-- Where each projection (and the archiver) has got to: next offset to read per
-- topic partition. Written in the same transaction as the rows it covers.
CREATE TABLE projection_checkpoints (
    projection  text NOT NULL,
    topic       text NOT NULL,
    partition   int NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

-- Users whose data was erased. Every fold, the archiver and replay skip them forever.
CREATE TABLE erased_users (
    user_id    uuid PRIMARY KEY,
    erased_at  timestamptz NOT NULL DEFAULT now(),
    reason     text NOT NULL DEFAULT ''
);

-- The durable archive of the log: one row per (log entry, user). A raw entry that
-- coalesced uploads of several users becomes several rows (part = 0, 1, …), so
-- erasing a user is a DELETE. value is the re-encoded entry holding only that
-- user's uploads/events (schema.log encoding). Append-only, partitioned by month of
-- the entry timestamp; the archiver creates partitions on demand
-- (event_log_ensure_partition).
CREATE TABLE event_log (
    topic       text NOT NULL,
    partition   int NOT NULL,
    "offset"    bigint NOT NULL,
    part        int NOT NULL DEFAULT 0,
    user_id     uuid,
    logged_at   timestamptz NOT NULL,
    key         bytea NOT NULL DEFAULT '',
    value       bytea NOT NULL,
    headers     bytea,
    PRIMARY KEY (topic, partition, "offset", part, logged_at)
) PARTITION BY RANGE (logged_at);
CREATE INDEX event_log_user ON event_log (user_id);

CREATE FUNCTION event_log_ensure_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    name text := 'event_log_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF event_log FOR VALUES FROM (%L) TO (%L)',
                       name, lo, hi);
    END IF;
    RETURN name;
END $$;

-- Redis purges owed to erasures: the hot stream partition must be head-trimmed
-- past up_to_offset (exclusive) once every consumer has committed past it.
CREATE TABLE erasure_purges (
    user_id       uuid NOT NULL,
    stream        text NOT NULL,
    up_to_offset  bigint NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    PRIMARY KEY (user_id, stream)
);
