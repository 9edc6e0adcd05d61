-- Accounts: users, their device tokens (hashed) and their privacy settings.
CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE device_tokens (
    token_id     uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX device_tokens_user ON device_tokens (user_id);

CREATE TABLE user_settings (
    user_id          uuid PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    blocked_domains  text[] NOT NULL DEFAULT '{}',
    idle_threshold_s integer NOT NULL DEFAULT 60 CHECK (idle_threshold_s BETWEEN 15 AND 3600),
    email_reports    boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
