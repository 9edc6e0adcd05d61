-- A session tombstone (erased_sessions) kept the session's id, and a session id is a
-- UUIDv7: its first 48 bits are when the session started, to the millisecond. So
-- after "delete this session" or "erase all my data" the table still said when each
-- erased session began. A tombstone now keeps only erased_session_key(id): the first
-- 16 bytes of the id's SHA-256, as a UUID (the id's 74 random bits make it
-- irreversible); every lookup takes the key of the id it checks (projector/erase_session.py,
-- mindhit/sql/session_owners_recorded.sql) and, for tombstones an older projector may
-- still write during an upgrade, the plain id too.
CREATE OR REPLACE FUNCTION erased_session_key(session_id uuid) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT encode(substring(sha256(convert_to(session_id::text, 'UTF8')) FROM 1 FOR 16), 'hex')::uuid $$;

UPDATE erased_sessions SET session_id = erased_session_key(session_id);

-- The gateway's owner look-up names session ids alone (not the user): without this
-- index it read the whole table.
CREATE INDEX IF NOT EXISTS erased_sessions_by_session ON erased_sessions (session_id);
