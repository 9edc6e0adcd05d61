-- Daily rollups for the overview across sessions (issue 16), folded by the projector.
-- Days are UTC dates of a visit's start. Each table equals an aggregate of another read
-- table at every commit (overview_days/domains/pages: of page_visits, kept by adding
-- what a batch changed; overview_branches: of mindmap_graphs, rebuilt per session), so
-- duplicates, redelivery and replays fold alike, and erasure rebuilds them.

CREATE TABLE overview_days (
    user_id   uuid NOT NULL,
    day       date NOT NULL,
    dwell_ms  bigint NOT NULL,
    visits    integer NOT NULL,
    PRIMARY KEY (user_id, day)
);

CREATE TABLE overview_domains (
    user_id   uuid NOT NULL,
    day       date NOT NULL,
    domain    text NOT NULL,
    dwell_ms  bigint NOT NULL,
    visits    integer NOT NULL,
    PRIMARY KEY (user_id, day, domain)
);

CREATE TABLE overview_pages (
    user_id       uuid NOT NULL,
    day           date NOT NULL,
    url_hash      text NOT NULL,
    content_hash  text NOT NULL,
    dwell_ms      bigint NOT NULL,
    visits        integer NOT NULL,
    PRIMARY KEY (user_id, day, url_hash, content_hash)
);

-- The same per calendar month (month = its first day), so a month view reads one row
-- per page or domain instead of one per page and day.
CREATE TABLE overview_domains_monthly (
    user_id   uuid NOT NULL,
    month     date NOT NULL,
    domain    text NOT NULL,
    dwell_ms  bigint NOT NULL,
    visits    integer NOT NULL,
    PRIMARY KEY (user_id, month, domain)
);

CREATE TABLE overview_pages_monthly (
    user_id       uuid NOT NULL,
    month         date NOT NULL,
    url_hash      text NOT NULL,
    content_hash  text NOT NULL,
    dwell_ms      bigint NOT NULL,
    visits        integer NOT NULL,
    PRIMARY KEY (user_id, month, url_hash, content_hash)
);
-- A month's most-read pages without reading all of them.
CREATE INDEX overview_pages_monthly_top ON overview_pages_monthly (user_id, month, dwell_ms DESC);

-- The top-level branches (topics) of each session's mind map, with their dwell; the day
-- is the session's creation day (its UUIDv7 time, else when the map was built).
CREATE TABLE overview_branches (
    user_id     uuid NOT NULL,
    session_id  uuid NOT NULL,
    branch      integer NOT NULL,
    day         date NOT NULL,
    label       text NOT NULL,
    dwell_ms    bigint NOT NULL,
    pages       integer NOT NULL,
    PRIMARY KEY (user_id, session_id, branch)
);
CREATE INDEX overview_branches_day ON overview_branches (user_id, day);
