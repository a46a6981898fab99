-- A real-time continuous aggregate's query calls TimescaleDB's cagg_watermark(), which checks SELECT
-- on the aggregate as the user running the query, not as the owner of the view that reads it: where the
-- planner cannot fold the watermark to a constant (inside the functions of ioc_views, such as rollup(),
-- counter_increase() and series_rollup()), `ioc_grafana` got "permission denied for materialized view
-- samples_1m". The aggregates hold what ioc_views.samples_1m and samples_1h already show the role.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        GRANT SELECT ON samples_1m, samples_1h TO ioc_grafana;
    END IF;
END $$;
