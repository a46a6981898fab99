-- Plain PostgreSQL: daily range partitions created ahead and dropped for retention, and rollups
-- of our own at 1 minute and 1 hour that the writer keeps up to date in the batch's transaction.

CREATE TABLE samples (
    series_id   integer NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX samples_series_ts ON samples (series_id, ts);
CREATE INDEX samples_ts ON samples (ts);

CREATE TABLE samples_1m (
    series_id   integer NOT NULL,
    bucket      timestamptz NOT NULL,
    cnt         bigint NOT NULL,
    total       double precision NOT NULL,
    min_value   double precision NOT NULL,
    max_value   double precision NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
CREATE INDEX samples_1m_bucket ON samples_1m (bucket);

CREATE TABLE samples_1h (
    series_id   integer NOT NULL,
    bucket      timestamptz NOT NULL,
    cnt         bigint NOT NULL,
    total       double precision NOT NULL,
    min_value   double precision NOT NULL,
    max_value   double precision NOT NULL,
    PRIMARY KEY (series_id, bucket)
);
CREATE INDEX samples_1h_bucket ON samples_1h (bucket);

-- Create the daily partitions that cover [first_day, last_day]; returns how many were created.
CREATE FUNCTION ioc_ensure_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date := first_day;
    created integer := 0;
    part text;
BEGIN
    WHILE d <= last_day LOOP
        part := format('samples_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF samples FOR VALUES FROM (%L) TO (%L)',
                part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END $$;

-- Drop raw partitions wholly older than the raw retention and delete expired rollup rows.
CREATE FUNCTION ioc_apply_retention(raw_days integer, m1_days integer, h1_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    dropped integer := 0;
    cutoff date := (now() AT TIME ZONE 'UTC')::date - raw_days;
BEGIN
    FOR r IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'samples'::regclass AND c.relname ~ '^samples_p[0-9]{8}$'
    LOOP
        IF to_date(substr(r.relname, 10), 'YYYYMMDD') < cutoff THEN
            EXECUTE format('DROP TABLE %I', r.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM samples_1m WHERE bucket < now() - make_interval(days => m1_days);
    DELETE FROM samples_1h WHERE bucket < now() - make_interval(days => h1_days);
    RETURN dropped;
END $$;
