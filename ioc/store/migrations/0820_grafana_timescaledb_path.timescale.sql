-- Grafana's data source has the TimescaleDB option on (deploy/grafana: `timescaledb: true`), so
-- $__timeGroup becomes an unqualified time_bucket(...), which the search path of 0720 (ioc_views alone)
-- did not find: every time series panel failed. The extension's schema goes after ioc_views, so
-- unqualified names still resolve in ioc_views first; the role gains no privilege (its functions are
-- callable by anyone, qualified, and its tables stay unreadable to the role).
DO $$
DECLARE
    ext_schema text := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') AND ext_schema IS NOT NULL THEN
        EXECUTE format('ALTER ROLE ioc_grafana IN DATABASE %I SET search_path = ioc_views, %s',
                       current_database(), ext_schema);
    END IF;
END $$;
