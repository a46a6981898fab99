-- Uptime per entity and closed local day, and per entity and closed hour for the last day, kept by the
-- store upkeep (ioc.store.uptime_daily) so that status pages, agency health and reports read stored
-- figures instead of 90 days of rollups. Figures are seconds, as ioc.uptime computes them: days on the
-- hour grid (`hours_*`: the same per hour bucket starting in the day, from `first_bucket`; empty for a day
-- without known time), hours on the minute grid (`minutes_*`: per minute of the hour; empty likewise).
CREATE TABLE uptime_daily (
    timezone          text NOT NULL,
    kind              text NOT NULL,
    entity            text NOT NULL,
    day               date NOT NULL,
    known_s           float8 NOT NULL,
    maintenance_s     float8 NOT NULL,
    down_s            float8 NOT NULL,  -- its own down time, unreachable time excluded
    unreachable_s     float8 NOT NULL,
    first_bucket      timestamptz NOT NULL,
    hours_known       float8[] NOT NULL,
    hours_maintenance float8[] NOT NULL,
    hours_down        float8[] NOT NULL,
    hours_unreachable float8[] NOT NULL,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (timezone, kind, entity, day)
);

-- The days computed for every entity there was (a new entity's days are computed when the upkeep finds
-- it without the latest one).
CREATE TABLE uptime_daily_filled (
    timezone    text NOT NULL,
    day         date NOT NULL,
    PRIMARY KEY (timezone, day)
);

CREATE TABLE uptime_hourly (
    kind                text NOT NULL,
    entity              text NOT NULL,
    hour                timestamptz NOT NULL,
    known_s             float8 NOT NULL,
    maintenance_s       float8 NOT NULL,
    down_s              float8 NOT NULL,
    unreachable_s       float8 NOT NULL,
    minutes_known       float8[] NOT NULL,
    minutes_maintenance float8[] NOT NULL,
    minutes_down        float8[] NOT NULL,
    minutes_unreachable float8[] NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, entity, hour)
);

CREATE TABLE uptime_hourly_filled (
    hour        timestamptz PRIMARY KEY
);

-- When the upkeep last wrote any of the tables above: readers keep what they loaded of them while it
-- stays the same (ioc.store.uptime_daily.StoredCache).
CREATE TABLE uptime_version (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    written_at  timestamptz NOT NULL
);

-- What changed since it was computed, per entity and UTC day (`0001-01-01`: every day): the writer
-- marks the days a committed batch touched with samples or statuses of closed hours, the triggers below
-- the entities a maintenance window matches and the entities whose inventory entry changed. The upkeep
-- recomputes those (entity, day) pairs (and the entities depending on them) and deletes the marks it
-- took (unless marked again meanwhile); readers compute a marked entity live from the marked day on.
CREATE TABLE uptime_dirty (
    kind        text NOT NULL,
    entity      text NOT NULL,
    day         date NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (kind, entity, day)
);

CREATE FUNCTION ioc_uptime_mark_window(w maintenance_windows) RETURNS void LANGUAGE sql AS $$
    INSERT INTO uptime_dirty (kind, entity, day)
    SELECT e.kind, e.id, d.day::date
    FROM entities e
    CROSS JOIN LATERAL (
        SELECT CASE jsonb_typeof(w.matchers)
                   WHEN 'object' THEN w.matchers
                   ELSE (SELECT coalesce(jsonb_object_agg(m ->> 'name', m ->> 'value'), '{}'::jsonb)
                         FROM jsonb_array_elements(w.matchers) AS m WHERE m ? 'name' AND m ? 'value')
               END AS matchers) mm
    CROSS JOIN LATERAL (
        -- A one-off window: the UTC days it touches, widened by a day each side for any time zone's
        -- local days; a recurring one: every day.
        SELECT generate_series(((w.starts_at AT TIME ZONE 'UTC') - interval '1 day')::date,
                               ((w.ends_at AT TIME ZONE 'UTC') + interval '1 day')::date, interval '1 day') AS day
        WHERE w.starts_at IS NOT NULL
        UNION ALL
        SELECT date '0001-01-01' WHERE w.starts_at IS NULL
    ) d
    WHERE mm.matchers <> '{}'::jsonb
      AND jsonb_strip_nulls(jsonb_build_object('kind', e.kind, 'entity', e.id, 'site', e.site,
                                               'agency', e.agency)) @> mm.matchers
    ORDER BY 1, 2, 3
    ON CONFLICT (kind, entity, day) DO UPDATE SET marked_at = clock_timestamp();
$$;

CREATE FUNCTION ioc_uptime_window_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM ioc_uptime_mark_window(OLD);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM ioc_uptime_mark_window(NEW);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER maintenance_windows_uptime_dirty AFTER INSERT OR UPDATE OR DELETE ON maintenance_windows
    FOR EACH ROW EXECUTE FUNCTION ioc_uptime_window_changed();

-- A change of what an entity's figures depend on (its dependencies, heartbeat, the labels windows match):
-- every day of it. The writer's updates of first/last seen do not fire this. (A new entity has no stored
-- figures yet: the upkeep computes its days, readers count it live until then.)
CREATE FUNCTION ioc_uptime_entity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO uptime_dirty (kind, entity, day) VALUES (NEW.kind, NEW.id, date '0001-01-01')
    ON CONFLICT (kind, entity, day) DO UPDATE SET marked_at = clock_timestamp();
    RETURN NULL;
END $$;

CREATE TRIGGER entities_uptime_dirty_update AFTER UPDATE OF depends_on, interval_s, site, agency ON entities
    FOR EACH ROW
    WHEN (OLD.depends_on IS DISTINCT FROM NEW.depends_on OR OLD.interval_s IS DISTINCT FROM NEW.interval_s
          OR OLD.site IS DISTINCT FROM NEW.site OR OLD.agency IS DISTINCT FROM NEW.agency)
    EXECUTE FUNCTION ioc_uptime_entity_changed();

-- Its first data set or moved earlier (a backfill reaching further back): the days between the new first
-- data and the old one (or now) go from unknown to known; the days after keep their figures. First data
-- of an hour not computed yet (live data; ioc.store.uptime_marks: late_before) changes nothing stored.
CREATE FUNCTION ioc_uptime_first_seen_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_seen >= date_trunc('hour', clock_timestamp() - interval '120 seconds') THEN
        RETURN NULL;
    END IF;
    INSERT INTO uptime_dirty (kind, entity, day)
    SELECT NEW.kind, NEW.id, d::date
    FROM generate_series((NEW.first_seen AT TIME ZONE 'UTC')::date,
                         (coalesce(OLD.first_seen, now()) AT TIME ZONE 'UTC')::date, interval '1 day') AS d
    ON CONFLICT (kind, entity, day) DO UPDATE SET marked_at = clock_timestamp();
    RETURN NULL;
END $$;

CREATE TRIGGER entities_uptime_dirty_first_seen AFTER UPDATE OF first_seen ON entities
    FOR EACH ROW
    WHEN (OLD.first_seen IS NULL AND NEW.first_seen IS NOT NULL OR NEW.first_seen < OLD.first_seen)
    EXECUTE FUNCTION ioc_uptime_first_seen_changed();
