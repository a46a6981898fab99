-- Console users (contract section 10): argon2 password hashes, lock-out after repeated failures, and
-- server-side sessions (the cookie holds a signed random token; only its SHA-256 is stored here).

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    agency          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz
);

CREATE TABLE user_sessions (
    token_hash      text PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expires ON user_sessions (expires_at);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX events_entity ON events (kind, entity, ts);
