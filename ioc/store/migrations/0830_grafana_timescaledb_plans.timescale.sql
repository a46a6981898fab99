-- TimescaleDB folds a continuous aggregate's watermark to a constant when it plans a query that reads the
-- aggregate, but it does not see into a SQL function that PostgreSQL inlines into the caller's query:
-- there cagg_watermark() stayed a call evaluated for every materialized row (about 12 us each) and no
-- chunk was excluded. ioc_views.counter_increase() (the KPI board, the services' dossiers) took 10-15 s
-- over bench/dashboards.py's store instead of 0.2-0.3 s, ioc_views.rollup() (samples stored per second)
-- 10 s over 30 days instead of 0.5. A function with a SET clause is never inlined, so its body is planned
-- on its own, where the watermark is folded; jit = off is what ioc_grafana runs with anyway (0720).
-- A later CREATE OR REPLACE of these functions drops the setting: repeat it here then.
-- ioc_views.series_rollup() stays inlined: it is joined LATERAL per series, and planned apart it was
-- no faster. entity_uptime() and uptime_live() have SET clauses of their own already.
ALTER FUNCTION ioc_views.rollup(timestamptz, timestamptz) SET jit = off;
ALTER FUNCTION ioc_views.counter_increase(timestamptz, timestamptz) SET jit = off;
