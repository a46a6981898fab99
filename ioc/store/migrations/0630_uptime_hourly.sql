-- Uptime per entity and closed hour at one-minute resolution (ioc.store.uptime_daily), for the 24-hour
-- figures: the last 26 hours, kept by the store upkeep beside uptime_daily and from the same stale notes.
-- `minutes_*`: the same figures per minute of the hour.
CREATE TABLE uptime_hourly (
    kind                text NOT NULL,
    entity              text NOT NULL,
    hour                timestamptz NOT NULL,
    observed_s          float8 NOT NULL,
    maintenance_s       float8 NOT NULL,
    down_s              float8 NOT NULL,
    unreachable_s       float8 NOT NULL,
    minutes_observed    float8[] NOT NULL,
    minutes_maintenance float8[] NOT NULL,
    minutes_down        float8[] NOT NULL,
    minutes_unreachable float8[] NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hour, kind, entity)
);
CREATE INDEX uptime_hourly_entity ON uptime_hourly (kind, entity, hour);
