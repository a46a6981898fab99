-- What the alerting process must not forget across a restart, kill -9 included (issue 8, item 6): the
-- flap damping and topology holds of open alerts, the delivery stage's groups and their timers, and
-- the messages taken for a receiver but not yet sent. Written with the alerts' transitions, in one
-- transaction a round (alerts/delivery/persist.py).

CREATE TABLE alert_runtime (
    fingerprint    text PRIMARY KEY,
    clearing_since timestamptz,           -- healthy again since then, still firing for keep_firing_for
    flaps          integer NOT NULL DEFAULT 0,
    hold_until     timestamptz,           -- topology hold: no page before this
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_groups (
    route_id    text NOT NULL,
    group_key   text NOT NULL,
    labels      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    next_flush  timestamptz NOT NULL,
    last_sent   timestamptz,
    sent_firing text[] NOT NULL DEFAULT '{}',  -- fingerprints the last message said were firing
    members     bigint[] NOT NULL DEFAULT '{}', -- alerts.id of the alerts in the group
    PRIMARY KEY (route_id, group_key)
);

CREATE TABLE alert_outbox (
    id          bigserial PRIMARY KEY,
    receiver    text NOT NULL,
    integration integer NOT NULL,            -- its place among the receiver's integrations
    message     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
