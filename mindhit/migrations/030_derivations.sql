-- Re-derived history (owned by projector/, written by `mindhit replay --rederive`).
--
-- A derivation is the processors' work done again over the raw log with other
-- settings (idle threshold, AI provider). Its derived entries are kept here for
-- good, so a later plain replay rebuilds the same tables; the live log's derived
-- entries whose origin (the raw entry they came from) lies below the cutover are
-- superseded by it and skipped by every fold. Only the latest derivation counts;
-- older generations are deleted when a newer one is swapped in.
CREATE TABLE derivations (
    generation  bigint PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    settings    jsonb NOT NULL,            -- what shaped it, e.g. {"idle_threshold_s": 30}
    cutover     jsonb NOT NULL,            -- raw partition -> first raw offset not re-derived
    entries     bigint NOT NULL DEFAULT 0
);
CREATE SEQUENCE derivation_generation;

-- One row per (derived entry, user), like event_log, so erasing a user is a DELETE.
CREATE TABLE derived_log (
    generation  bigint NOT NULL,
    topic       text NOT NULL,
    partition   int NOT NULL,
    seq         bigint NOT NULL,           -- order within (generation, topic, partition)
    origin      bigint NOT NULL,           -- raw offset it was derived from
    user_id     uuid,
    logged_at   timestamptz NOT NULL,      -- when its raw entry was logged (erasure cut)
    value       bytea NOT NULL,
    PRIMARY KEY (generation, topic, partition, seq)
);
CREATE INDEX derived_log_user ON derived_log (user_id);
