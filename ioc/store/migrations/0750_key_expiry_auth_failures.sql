-- API keys that expire, the time a key was last used, and failed authentications (contract sections 4
-- and 10). A failed console login or API key is one row of auth_failures; the rate limits count the rows
-- of a window (by client address, and by user name for logins), so they hold across API processes.
-- Rows older than the window are swept as new ones come; the audit log keeps the lasting record.

ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

CREATE TABLE auth_failures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('login', 'key')),
    source  text NOT NULL,              -- the client's address
    subject text NOT NULL DEFAULT '',   -- the user name tried, or the key's id or first characters
    reason  text NOT NULL
);
CREATE INDEX auth_failures_source ON auth_failures (kind, source, at);
CREATE INDEX auth_failures_subject ON auth_failures (kind, subject, at);
CREATE INDEX auth_failures_at ON auth_failures (at);

-- The per-user lock-out these counted is replaced by the limits above.
ALTER TABLE users
    DROP COLUMN failed_logins,
    DROP COLUMN locked_until;
