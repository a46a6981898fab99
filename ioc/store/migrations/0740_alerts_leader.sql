-- Alerting on several machines (contract section 11): one `ioc run --role alerts` leads, the others
-- stand by (alerts/leadership.py). The lease is this one row, judged by the store's clock; `epoch`
-- grows by one at every change of leader and fences the old one: every round's writes and every
-- message sent first check that the epoch they were started under is still the row's.

CREATE TABLE alerts_leader (
    id            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch         bigint NOT NULL,
    holder        text NOT NULL,            -- host:pid:nonce of the leading process
    holder_locked boolean NOT NULL DEFAULT false, -- it holds the session advisory lock too
    expires_at    timestamptz NOT NULL,
    renewed_at    timestamptz NOT NULL DEFAULT now()
);

-- The epoch of the leader that took a message out to send it; a message taken by an older epoch
-- was in flight at a handover, and the new leader waits before sending it again.
ALTER TABLE alert_outbox ADD COLUMN sending_epoch bigint;
