-- TimescaleDB: a hypertable with compression and retention, and continuous aggregates at
-- 1 minute and 1 hour (real-time, so they answer like the plain back end's rollups).
-- {retention_days}, {m1_days} and {h1_days} are filled in from the settings.

CREATE TABLE samples (
    series_id   integer NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL
);
SELECT create_hypertable('samples', 'ts', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX samples_series_ts ON samples (series_id, ts);

ALTER TABLE samples SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'series_id',
    timescaledb.compress_orderby = 'ts'
);
SELECT add_compression_policy('samples', interval '2 days');
SELECT add_retention_policy('samples', interval '{retention_days} days');

CREATE MATERIALIZED VIEW samples_1m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(interval '1 minute', ts) AS bucket,
       count(*)::bigint AS cnt,
       sum(value) AS total,
       min(value) AS min_value,
       max(value) AS max_value
FROM samples
GROUP BY series_id, time_bucket(interval '1 minute', ts)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('samples_1m',
    start_offset => interval '3 hours', end_offset => interval '1 minute',
    schedule_interval => interval '1 minute');
SELECT add_retention_policy('samples_1m', interval '{m1_days} days');

CREATE MATERIALIZED VIEW samples_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(interval '1 hour', bucket) AS bucket,
       sum(cnt)::bigint AS cnt,
       sum(total) AS total,
       min(min_value) AS min_value,
       max(max_value) AS max_value
FROM samples_1m
GROUP BY series_id, time_bucket(interval '1 hour', bucket)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('samples_1h',
    start_offset => interval '3 days', end_offset => interval '1 hour',
    schedule_interval => interval '30 minutes');
SELECT add_retention_policy('samples_1h', interval '{h1_days} days');

-- The same upkeep entry points as the plain back end. TimescaleDB creates chunks on demand.
CREATE FUNCTION ioc_ensure_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE sql AS $$ SELECT 0 $$;
-- Retention is also TimescaleDB's policy; calling this drops expired chunks at once.
CREATE FUNCTION ioc_apply_retention(raw_days integer, m1_days integer, h1_days integer) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::integer FROM (
        SELECT drop_chunks('samples', older_than => now() - make_interval(days => raw_days))
        UNION ALL
        SELECT drop_chunks('samples_1m', older_than => now() - make_interval(days => m1_days))
        UNION ALL
        SELECT drop_chunks('samples_1h', older_than => now() - make_interval(days => h1_days))
    ) AS dropped
$$;
