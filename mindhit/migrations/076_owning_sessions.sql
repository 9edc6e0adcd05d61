-- Owning your sessions (issue 16): renames, deletions with an undo window, and the
-- tombstones of deleted sessions.

-- A name the user gave a session in the dashboard. Their own choice, like settings: kept
-- beside the read tables (a replay rebuilds `sessions` and leaves this alone); shown
-- instead of the label the extension sent. Erasure deletes it.
CREATE TABLE session_labels (
    user_id     uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    session_id  uuid NOT NULL,
    label       text NOT NULL,
    renamed_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, session_id)
);

-- A deletion the user asked for. It takes effect at due_at (the undo window) unless
-- cancelled: housekeeping then appends SessionErased and marks it 'erasing'; the
-- projector marks it 'done' in the transaction that deletes the rows. Retention files
-- its expired sessions here too (reason 'retention', due at once).
CREATE TABLE session_deletions (
    user_id       uuid NOT NULL,
    session_id    uuid NOT NULL,
    reason        text NOT NULL DEFAULT 'user request',
    requested_at  timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'cancelled', 'erasing', 'done')),
    PRIMARY KEY (user_id, session_id)
);
CREATE INDEX session_deletions_due ON session_deletions (due_at) WHERE state = 'pending';

-- Sessions erased for good: every fold, the archiver's readers and replay drop their
-- rows forever (a late upload of a deleted session stays deleted).
CREATE TABLE erased_sessions (
    user_id     uuid NOT NULL,
    session_id  uuid NOT NULL,
    erased_at   timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, session_id)
);
