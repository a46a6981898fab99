-- Uptime per entity and local day (ioc.store.uptime_daily), kept by the store upkeep for closed days so
-- that status pages, agency health and reports read 90 rows per entity instead of 90 days of hour rollups.
-- Seconds at one-hour resolution (ioc.uptime on the hour grid); `hours_*` are the same figures per hour
-- bucket starting in the day, from `first_bucket`, for periods that begin inside the day.
CREATE TABLE uptime_daily (
    kind            text NOT NULL,
    entity          text NOT NULL,
    day             date NOT NULL,
    timezone        text NOT NULL,
    observed_s      float8 NOT NULL,  -- known time (from the entity's first data on)
    maintenance_s   float8 NOT NULL,
    down_s          float8 NOT NULL,  -- its own down time, unreachable time excluded
    unreachable_s   float8 NOT NULL,
    up_s            float8 NOT NULL,
    first_bucket    timestamptz NOT NULL,
    hours_observed  float8[] NOT NULL,
    hours_maintenance float8[] NOT NULL,
    hours_down      float8[] NOT NULL,
    hours_unreachable float8[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (timezone, day, kind, entity)
);
CREATE INDEX uptime_daily_entity ON uptime_daily (kind, entity, day);

-- Time ranges whose figures may have changed since they were computed: one row per late batch of the
-- writer (samples older than a few minutes) and per change of a maintenance window. The upkeep
-- recomputes the closed days from `since` on and deletes the rows it took.
CREATE TABLE uptime_stale (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    since     timestamptz NOT NULL,
    noted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION ioc_uptime_window_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A one-off window changes the days from its start; a recurring one every day.
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO uptime_stale (since) VALUES (coalesce(OLD.starts_at, '-infinity'));
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO uptime_stale (since) VALUES (coalesce(NEW.starts_at, '-infinity'));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER maintenance_windows_uptime_stale AFTER INSERT OR UPDATE OR DELETE ON maintenance_windows
    FOR EACH ROW EXECUTE FUNCTION ioc_uptime_window_changed();

-- What an entity's figures depend on in the inventory: its dependencies, its heartbeat, the labels
-- maintenance windows match. Every day may change (the writer's updates of last_seen do not fire this).
CREATE FUNCTION ioc_uptime_entity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO uptime_stale (since) VALUES ('-infinity');
    RETURN NULL;
END $$;

CREATE TRIGGER entities_uptime_stale AFTER UPDATE OF depends_on, interval_s, site, agency ON entities
    FOR EACH STATEMENT EXECUTE FUNCTION ioc_uptime_entity_changed();
