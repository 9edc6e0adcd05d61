-- Accounts and sign-in (tweb): confirmed addresses and one-time links.
--
-- email_confirmed_at: when the owner proved they read this address (a confirmation
-- link), or when the operator created the account. Reports are mailed, and an address
-- listed in MINDHIT_ADMIN_EMAILS counts, only once it is set. Existing accounts start
-- unconfirmed: nobody ever proved them.
ALTER TABLE users ADD COLUMN email_confirmed_at timestamptz;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;

-- One-time links (confirm an address, sign in without a password). Only the SHA-256
-- of the link's secret is stored; a link is consumed by deleting its row, and it is
-- bound to the address it was sent to (a later change of address voids it).
CREATE TABLE account_links (
    link_hash   bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('confirm-email', 'sign-in')),
    email       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX account_links_user ON account_links (user_id);
CREATE INDEX account_links_expiry ON account_links (expires_at);
