-- The hourly increases of the standard dossier counters (ioc.kpis.COUNTERS) of services and kiosks per
-- series and closed UTC day, kept by the store upkeep (ioc.store.kpis.refresh_kpi_days) so that an
-- agency's KPIs over weeks read one row per series and day instead of every hour rollup. `increases`:
-- 24 values, the increase within each hour (a drop counted as a reset, as Prometheus increase()).
-- Recomputed for the (entity, day) pairs marked in uptime_dirty (migration 0700) and the day after.
CREATE TABLE kpi_daily (
    series_id   integer NOT NULL,
    day         date NOT NULL,
    increases   float8[] NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series_id, day)
);

CREATE TABLE kpi_daily_filled (
    day         date PRIMARY KEY
);
