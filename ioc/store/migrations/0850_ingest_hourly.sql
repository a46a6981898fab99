-- Samples stored per closed UTC hour over every series, kept by the store upkeep
-- (ioc.store.ingest_hourly.refresh_ingest_hours) from the hour rollup, so the wall's "samples stored per
-- second" over weeks reads one row per hour instead of every series' hour rows (829,000 over 30 days:
-- 0.48 s, bench/dashboards.py). An hour without samples is stored as 0 (computed, nothing to show).
-- Recomputed for the UTC days marked in uptime_dirty (migration 0700: a late sample marks its day).
CREATE TABLE ingest_hourly (
    hour        timestamptz PRIMARY KEY,
    samples     bigint NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW ioc_views.ingest_hours AS SELECT hour, samples FROM ingest_hourly;

-- Samples stored per rollup bucket over [p_from, p_to], every series summed: what
-- `SELECT bucket, sum(cnt) FROM ioc_views.rollup(p_from, p_to) GROUP BY bucket` gives (minutes up to 6
-- hours, hours beyond). Beyond 6 hours each hour comes from `ingest_hourly` where stored, its UTC day not
-- marked in uptime_dirty (a late sample not counted yet) and the hour rollup still holding it (retention);
-- the other hours, normally the current one and the last closed, are summed from the hour rollup.
CREATE FUNCTION ioc_views.ingest_counts(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, cnt bigint)
LANGUAGE sql STABLE SET jit = off AS $$
    WITH hours AS MATERIALIZED (
        SELECT h.hour, s.samples
        FROM generate_series(to_timestamp(floor(extract(epoch FROM p_from) / 3600) * 3600), p_to,
                             interval '1 hour') AS h(hour)
        LEFT JOIN ioc_views.ingest_hours s
               ON s.hour = h.hour AND s.hour >= (SELECT min(r.bucket) FROM ioc_views.samples_1h r)
              AND NOT EXISTS (SELECT FROM ioc_views.uptime_marks m WHERE m.day = (h.hour AT TIME ZONE 'UTC')::date)
        WHERE p_to - p_from > interval '6 hours' AND h.hour >= date_trunc('hour', p_from)
    )
    SELECT hour, samples FROM hours WHERE samples > 0
    UNION ALL
    SELECT r.bucket, sum(r.cnt)::bigint FROM ioc_views.samples_1h r
    WHERE r.bucket = ANY (ARRAY(SELECT hour FROM hours WHERE samples IS NULL))
      AND r.bucket >= date_trunc('hour', p_from) AND r.bucket <= p_to
    GROUP BY 1
    UNION ALL
    SELECT m.bucket, sum(m.cnt)::bigint FROM ioc_views.samples_1m m
    WHERE p_to - p_from <= interval '6 hours' AND m.bucket >= p_from AND m.bucket <= p_to
    GROUP BY 1
$$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA ioc_views TO ioc_grafana;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views TO ioc_grafana;
    END IF;
END $$;
