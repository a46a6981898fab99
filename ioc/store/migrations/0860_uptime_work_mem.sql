-- The uptime functions ran with work_mem 64MB (migration 0760), and that made them slow: the planner's
-- estimates for the dependency closure (a recursive CTE estimated at 12.5 million rows however few
-- dependencies there are) and what is joined to it size hash tables and caches up front, up to the memory
-- allowed, so each call allocated and touched tens of megabytes for a few thousand rows. With 4MB (the
-- server default) the same plans answer 2 to 3 times faster: the services' 24-hour uptime's live part from
-- ~180 to ~60 ms, its stored part from ~160 to ~40 ms, the SLA board's panels from 0.55-1.0 s to 0.23-0.46 s
-- at p50 on the shared machine (bench/dashboards.py's store, docs/dashboards.md). The worst case, every
-- entity marked changed (30 days computed live), takes as long as before (9-11 s either way): its sorts fit.
-- The figures are the same; only the memory the plans may take changes.
ALTER FUNCTION ioc_views.uptime_live(timestamptz, timestamptz, float8, text[], text[], timestamptz[]) SET work_mem = '4MB';
ALTER FUNCTION ioc_views.entity_uptime(timestamptz, timestamptz, text, text[]) SET work_mem = '4MB';
