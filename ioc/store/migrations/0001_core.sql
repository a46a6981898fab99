-- Core schema shared by both back ends. Samples, rollups and their upkeep live in the
-- .plain.sql / .timescale.sql variants of this migration.

CREATE TABLE agencies (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    attrs       jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    parent      text,
    attrs       jsonb NOT NULL DEFAULT '{}'
);

-- Inventory entities (assigned) and entities first heard of on the wire (unassigned).
CREATE TABLE entities (
    kind            text NOT NULL,
    id              text NOT NULL,
    name            text,
    site            text,
    agency          text,
    system          text,
    depends_on      text[] NOT NULL DEFAULT '{}',   -- 'kind/id' references
    interval_s      double precision,               -- usual reporting interval, when known
    attrs           jsonb NOT NULL DEFAULT '{}',    -- every other inventory key (url, capacity_bps, ...)
    assigned        boolean NOT NULL DEFAULT false, -- present in the loaded inventory
    first_seen      timestamptz,
    last_seen       timestamptz,
    mqtt_status     text,                           -- last 'online' / 'offline' on the status topic
    mqtt_status_at  timestamptz,
    PRIMARY KEY (kind, id)
);
CREATE INDEX entities_site ON entities (site);
CREATE INDEX entities_agency ON entities (agency);

-- The series dimension: one row per kind, entity, metric and label set.
CREATE TABLE series (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL,
    entity      text NOT NULL,
    metric      text NOT NULL,
    labels      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, entity, metric, labels)
);
CREATE INDEX series_metric ON series (metric);

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL,
    entity      text NOT NULL,
    ts          timestamptz NOT NULL,
    type        text NOT NULL,
    severity    text NOT NULL,
    message     text NOT NULL DEFAULT '',
    attrs       jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, entity, ts, type)
);
CREATE INDEX events_ts ON events (ts);

-- Every status-topic change, so uptime can be charged and restarts know the last word.
CREATE TABLE status_changes (
    kind        text NOT NULL,
    entity      text NOT NULL,
    ts          timestamptz NOT NULL,
    status      text NOT NULL,
    PRIMARY KEY (kind, entity, ts, status)
);

CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
CREATE INDEX dead_letters_reason ON dead_letters (reason);

-- Alerts: one row per incident of one fingerprint; at most one open (pending or firing) row each.
CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint     text NOT NULL,
    rule            text NOT NULL,
    severity        text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    kind            text,
    entity          text,
    site            text,
    agency          text,
    labels          jsonb NOT NULL DEFAULT '{}',
    annotations     jsonb NOT NULL DEFAULT '{}',
    summary         text NOT NULL DEFAULT '',
    value           double precision,
    pending_since   timestamptz NOT NULL,
    starts_at       timestamptz,
    ends_at         timestamptz,
    suppressed_by   text,                            -- 'kind/id' of the root cause, when unreachable
    acked_by        text,
    acked_at        timestamptz,
    ack_comment     text,
    last_notified_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_open_fingerprint ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts (state);
CREATE INDEX alerts_entity ON alerts (kind, entity);

CREATE TABLE silences (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expired_at  timestamptz,
    CHECK (ends_at > starts_at)
);

-- Recurring maintenance: on the given ISO weekdays (1 = Monday), from `start_time` for `duration`.
CREATE TABLE maintenance_windows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers    jsonb NOT NULL,
    weekdays    smallint[] NOT NULL,
    start_time  time NOT NULL,
    duration    interval NOT NULL,
    timezone    text NOT NULL DEFAULT 'Asia/Ho_Chi_Minh',
    created_by  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL DEFAULT '',
    detail  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash    text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    agency      text,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
