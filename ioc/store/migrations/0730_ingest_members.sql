-- Ingest members (contract section 11): each `ioc run --role ingest` process, by its MQTT client id (its
-- persistent session on the shared subscription). A member heartbeats `last_seen`; one gone for good
-- (kill -9, a lost host, a renamed client id) is drained: its session's queued messages are stored and
-- the session closed, so the broker stops routing a share of the traffic to it.
--   live      running (a crashed member stays `live` with an old last_seen until it is drained)
--   kept      stopped with its session kept (the last live member, or a stop that could not finish draining)
--   left      stopped for good: left the shared subscription, drained, session closed by itself
--   draining  another process holds its session and is storing what was queued for it
--   drained   its session was drained and closed by another process (`ioc ingest drain`, or automatically)

CREATE TABLE ingest_members (
    client_id   text PRIMARY KEY CHECK (client_id <> ''),
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    state       text NOT NULL CHECK (state IN ('live', 'kept', 'left', 'draining', 'drained')),
    connected   boolean NOT NULL DEFAULT false,  -- to the MQTT broker, at its last heartbeat
    backlog     integer NOT NULL DEFAULT 0 CHECK (backlog >= 0),
    drained_by  text,
    drained_messages bigint NOT NULL DEFAULT 0,
    ended_at    timestamptz
);
