-- The Grafana views read the stored figures (contract section 12): uptime from the closed days of
-- `uptime_daily` and the closed hours of `uptime_hourly` (migration 0700), KPIs from the hourly increases
-- of `kpi_daily` (0710), and compute only the live remainder from the rollups, exactly as
-- ioc/store/uptime.py and ioc/store/kpis.py read them. The stored tables are shown to the role through
-- views of `ioc_views` (run with the migrating user's privileges), so `ioc_grafana` still reads only
-- `ioc_views`. tests/dashboards/test_uptime_kpi_views.py checks them against the Python readers.

CREATE VIEW ioc_views.uptime_days AS
SELECT timezone, kind, entity, day, known_s, maintenance_s, down_s, unreachable_s, first_bucket,
       hours_known, hours_maintenance, hours_down, hours_unreachable
FROM uptime_daily;

CREATE VIEW ioc_views.uptime_hours AS
SELECT kind, entity, hour, known_s, maintenance_s, down_s, unreachable_s,
       minutes_known, minutes_maintenance, minutes_down, minutes_unreachable
FROM uptime_hourly;

CREATE VIEW ioc_views.uptime_marks AS SELECT kind, entity, day FROM uptime_dirty;

CREATE VIEW ioc_views.kpi_days AS SELECT series_id, day, increases FROM kpi_daily;

DROP FUNCTION ioc_views.entity_uptime(timestamptz, timestamptz);

-- The live part of the uptime definition (what 0720's entity_uptime computed for every entity): the
-- entities p_kinds/p_ids on the grid of width p_w (60 or 3600 s) up to p_to, each counted over
-- [p_from, p_to) from its p_count_from on (null: the whole range), as ioc.store.uptime counts the part
-- after its stored days or hours. Each entity's grid starts a lookback before that (2 hours on the hour
-- grid, 7 minutes on the minute grid: ioc.store.uptime_daily.LOOKBACK_S, MINUTE_LOOKBACK_S), or earlier
-- when something depending on it starts earlier (its buckets are that one's root causes). Per bucket: known
-- from the entity's first data; maintenance while a matching window is open; down, the largest of offline
-- (from `offline` to the next `online`), silence (a heartbeat past the last bucket with data to the next)
-- and the probe (1 - mean `up`, carried over empty buckets up to the heartbeat); unreachable, the part of
-- the down time while something it depends on is down or in maintenance, charged to that root cause.
CREATE FUNCTION ioc_views.uptime_live(p_from timestamptz, p_to timestamptz, p_w float8, p_kinds text[],
                                      p_ids text[], p_count_from timestamptz[])
RETURNS TABLE (kind text, id text, known_s float8, maintenance_s float8, down_s float8, unreachable_s float8)
LANGUAGE sql STABLE SET jit = off SET work_mem = '64MB' AS $$
WITH RECURSIVE wanted AS (
    SELECT u.k AS kind, u.i AS id, (u.k || '/' || u.i) COLLATE "C" AS ref, extract(epoch FROM u.cf)::float8 AS cf
    FROM unnest(p_kinds, p_ids, p_count_from) AS u(k, i, cf)
), closure (ref, dep) AS (
    SELECT (f.kind || '/' || f.id) COLLATE "C", d.dep COLLATE "C"
    FROM ioc_views.entity_facts f CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
    UNION
    SELECT c.ref, d.dep COLLATE "C"
    FROM closure c JOIN ioc_views.entity_facts f ON (f.kind || '/' || f.id) COLLATE "C" = c.dep
    CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
), starts AS (
    SELECT x.ref, min(x.gs) AS gs
    FROM (SELECT w.ref, w.cf FROM wanted w
          UNION ALL
          SELECT c.dep, w.cf FROM wanted w JOIN closure c ON c.ref = w.ref WHERE c.dep <> w.ref) y
    CROSS JOIN LATERAL (SELECT y.ref, coalesce(y.cf, extract(epoch FROM p_from)::float8)
                                      - CASE WHEN p_w = 60 THEN 420.0 ELSE 7200.0 END AS gs) x
    GROUP BY 1
), grid AS (
    SELECT w, g0, t0, t1, ceil((t1 - g0) / w)::integer AS n
    FROM (SELECT p_w AS w, floor(min(gs) / p_w) * p_w AS g0, extract(epoch FROM p_from)::float8 AS t0,
                 extract(epoch FROM p_to)::float8 AS t1
          FROM starts) y
    WHERE g0 IS NOT NULL
), first_data AS (
    SELECT s.kind, s.entity, min(CASE WHEN m.bucket < h.bucket + interval '1 hour' THEN m.bucket ELSE h.bucket END) AS ts
    FROM ioc_views.series s
    JOIN starts st ON st.ref = (s.kind || '/' || s.entity) COLLATE "C"
    CROSS JOIN LATERAL (SELECT bucket FROM ioc_views.samples_1h WHERE series_id = s.id ORDER BY bucket LIMIT 1) h
    LEFT JOIN LATERAL (SELECT bucket FROM ioc_views.samples_1m WHERE series_id = s.id ORDER BY bucket LIMIT 1) m ON true
    GROUP BY 1, 2
    UNION ALL
    SELECT c.kind, c.entity, min(c.ts) FROM ioc_views.status_changes c
    JOIN starts st ON st.ref = (c.kind || '/' || c.entity) COLLATE "C" GROUP BY 1, 2
), ent AS (  -- e0: the entity's grid start, sb: its index on the common grid, cf: counted from (null: all)
    SELECT e.kind, e.id, (e.kind || '/' || e.id) COLLATE "C" AS ref, e.depends_on, e.heartbeat_s AS hb, e.labels,
           extract(epoch FROM least(min(f.ts), least(e.first_seen, e.mqtt_status_at)))::float8 AS kf,
           floor(st.gs / g.w) * g.w AS e0, round((floor(st.gs / g.w) * g.w - g.g0) / g.w)::integer AS sb,
           min(w.cf) AS cf
    FROM ioc_views.entity_facts e
    JOIN starts st ON st.ref = (e.kind || '/' || e.id) COLLATE "C"
    CROSS JOIN grid g
    LEFT JOIN wanted w ON w.ref = st.ref
    LEFT JOIN first_data f ON f.kind = e.kind AND f.entity = e.id
    GROUP BY e.kind, e.id, e.depends_on, e.heartbeat_s, e.labels, e.first_seen, e.mqtt_status_at, st.gs, g.w, g.g0
    HAVING min(f.ts) IS NOT NULL
), roll AS (
    SELECT e.ref, floor((extract(epoch FROM x.bucket) - g.g0) / g.w)::integer AS b,
           sum(x.cnt) FILTER (WHERE s.metric = 'up')::float8 AS up_cnt,
           sum(x.total) FILTER (WHERE s.metric = 'up') AS up_total
    FROM ent e
    CROSS JOIN grid g
    JOIN ioc_views.series s ON s.kind = e.kind AND s.entity = e.id
    CROSS JOIN LATERAL (
        SELECT r.bucket, r.cnt, r.total FROM ioc_views.samples_1m r
        WHERE g.w = 60 AND r.series_id = s.id AND r.bucket >= to_timestamp(e.e0) AND r.bucket < p_to
        UNION ALL
        SELECT r.bucket, r.cnt, r.total FROM ioc_views.samples_1h r
        WHERE g.w = 3600 AND r.series_id = s.id AND r.bucket >= to_timestamp(e.e0) AND r.bucket < p_to
    ) x
    GROUP BY 1, 2
), changes AS (
    SELECT e.ref, extract(epoch FROM c.ts)::float8 AS ts, c.status
    FROM ent e
    CROSS JOIN LATERAL (
        (SELECT ts, status FROM ioc_views.status_changes
         WHERE kind = e.kind AND entity = e.id AND ts < to_timestamp(e.e0) ORDER BY ts DESC LIMIT 1)
        UNION ALL
        SELECT ts, status FROM ioc_views.status_changes
        WHERE kind = e.kind AND entity = e.id AND ts >= to_timestamp(e.e0) AND ts < p_to
    ) c
), heard AS (
    SELECT ref, b FROM roll
    UNION
    SELECT c.ref, floor((c.ts - g.g0) / g.w)::integer
    FROM changes c JOIN ent e ON e.ref = c.ref, grid g
    WHERE c.ts >= e.e0 AND c.ts < g.g0 + g.n * g.w
), runs AS (  -- the first change of each run of equal statuses, and when the next run starts
    SELECT ref, ts, status, lead(ts) OVER (PARTITION BY ref ORDER BY ts) AS next_ts
    FROM (SELECT ref, ts, status, lag(status) OVER (PARTITION BY ref ORDER BY ts) AS prev FROM changes) c
    WHERE prev IS DISTINCT FROM status
), offline AS (
    SELECT r.ref, r.ts AS lo, coalesce(r.next_ts, g.t1) AS hi FROM runs r, grid g WHERE r.status = 'offline'
), heard_next AS (
    SELECT h.ref, g.g0 + (h.b + 1) * g.w AS heard_end,
           coalesce(g.g0 + lead(h.b) OVER (PARTITION BY h.ref ORDER BY h.b) * g.w, g.t1) AS next_start
    FROM heard h, grid g
    UNION ALL  -- data before the entity's grid: taken as heard at its start
    SELECT e.ref, e.e0, coalesce(g.g0 + f.b * g.w, g.t1)
    FROM ent e CROSS JOIN grid g
    LEFT JOIN (SELECT h.ref, min(h.b) AS b FROM heard h GROUP BY h.ref) f ON f.ref = e.ref
    WHERE e.kf < e.e0
), silent AS (
    SELECT n.ref, n.heard_end + e.hb AS lo, least(n.next_start, g.t1) AS hi
    FROM heard_next n JOIN ent e ON e.ref = n.ref, grid g
), maint AS (
    SELECT e.ref, greatest(e.e0, o.lo) AS lo, least(g.t1, o.hi) AS hi
    FROM grid g
    JOIN ioc_views.maintenance_windows w ON w.matchers <> '{}'::jsonb
    JOIN ent e ON e.labels @> w.matchers
    CROSS JOIN LATERAL (
        SELECT extract(epoch FROM w.starts_at)::float8 AS lo, extract(epoch FROM w.ends_at)::float8 AS hi
        WHERE w.starts_at IS NOT NULL
        UNION ALL
        SELECT extract(epoch FROM (d.day + w.start_time) AT TIME ZONE w.timezone)::float8,
               extract(epoch FROM (d.day + w.start_time) AT TIME ZONE w.timezone + w.duration)::float8
        FROM generate_series(((to_timestamp(e.e0) AT TIME ZONE w.timezone)::date
                                 - (floor(extract(epoch FROM w.duration) / 86400)::integer + 1))::timestamp,
                             (p_to AT TIME ZONE w.timezone)::date::timestamp, interval '1 day') AS d(day)
        WHERE w.starts_at IS NULL AND extract(epoch FROM w.duration) > 0
          AND extract(isodow FROM d.day)::smallint = ANY (w.weekdays)
    ) o
), intervals AS (  -- each set made disjoint, then cut into the buckets it covers
    SELECT u.what, u.ref, lower(r) AS lo, upper(r) AS hi
    FROM (SELECT what, ref, range_agg(numrange(lo::numeric, hi::numeric)) AS ranges
          FROM (SELECT 'offline' AS what, ref, lo, hi FROM offline UNION ALL
                SELECT 'silent', ref, lo, hi FROM silent UNION ALL
                SELECT 'maint', ref, lo, hi FROM maint) a
          WHERE hi > lo GROUP BY 1, 2) u
    CROSS JOIN LATERAL unnest(u.ranges) AS r
), cover AS (
    SELECT i.ref, b,
           least(1.0, coalesce(sum(greatest(0.0, least(i.hi::float8, g.g0 + (b + 1) * g.w)
                                                 - greatest(i.lo::float8, g.g0 + b * g.w)))
                                   FILTER (WHERE i.what = 'offline'), 0.0) / g.w) AS offline,
           least(1.0, coalesce(sum(greatest(0.0, least(i.hi::float8, g.g0 + (b + 1) * g.w)
                                                 - greatest(i.lo::float8, g.g0 + b * g.w)))
                                   FILTER (WHERE i.what = 'silent'), 0.0) / g.w) AS silent,
           least(1.0, coalesce(sum(greatest(0.0, least(i.hi::float8, g.g0 + (b + 1) * g.w)
                                                 - greatest(i.lo::float8, g.g0 + b * g.w)))
                                   FILTER (WHERE i.what = 'maint'), 0.0) / g.w) AS maint
    FROM intervals i JOIN ent e ON e.ref = i.ref, grid g,
         generate_series(greatest(e.sb, floor((i.lo::float8 - g.g0) / g.w)::integer),
                         least(g.n - 1, floor((i.hi::float8 - g.g0) / g.w)::integer)) AS b
    GROUP BY i.ref, b, g.w
), cells AS (
    SELECT e.ref, gs.b, e.hb, g.w,
           least(1.0, greatest(0.0, least(g.t1, g.g0 + (gs.b + 1) * g.w) - greatest(e.kf, g.g0 + gs.b * g.w)) / g.w)
               AS known,
           CASE WHEN e.cf IS NOT NULL AND g.g0 + gs.b * g.w < e.cf THEN 0.0
                ELSE greatest(0.0, least(g.t1, g.g0 + (gs.b + 1) * g.w) - greatest(g.t0, g.g0 + gs.b * g.w)) / g.w
           END AS weight,
           CASE WHEN r.up_cnt > 0 THEN r.up_total / r.up_cnt END AS up_mean
    FROM ent e CROSS JOIN grid g
    CROSS JOIN LATERAL generate_series(greatest(e.sb, floor((e.kf - g.g0) / g.w)::integer), g.n - 1) AS gs(b)
    LEFT JOIN roll r ON r.ref = e.ref AND r.b = gs.b
), carried AS (  -- `up` holds over empty buckets up to the heartbeat (at least one bucket)
    SELECT ref, b, known, weight, w, grp_b, grp_up,
           CASE WHEN grp_up IS NOT NULL AND b - grp_b <= greatest(1, ceil(hb / w)) THEN grp_up END AS up
    FROM (SELECT c.*, first_value(b) OVER (PARTITION BY ref, grp ORDER BY b) AS grp_b,
                 first_value(up_mean) OVER (PARTITION BY ref, grp ORDER BY b) AS grp_up
          FROM (SELECT c.*, count(up_mean) OVER (PARTITION BY ref ORDER BY b) AS grp FROM cells c) c) c
), own AS (
    SELECT c.ref, c.b, c.w, c.weight, c.known, m.maint,
           greatest(0.0, least(greatest(coalesce(v.offline, 0.0), coalesce(v.silent, 0.0),
                                        CASE WHEN c.up IS NULL THEN 0.0 ELSE 1.0 - least(1.0, greatest(0.0, c.up)) END),
                               c.known - m.maint)) AS down
    FROM carried c
    LEFT JOIN cover v ON v.ref = c.ref AND v.b = c.b
    CROSS JOIN LATERAL (SELECT least(coalesce(v.maint, 0.0), c.known) AS maint) m
), root_bad AS (
    SELECT c.ref, o.b, max(greatest(o.maint, o.down)) AS bad
    FROM closure c JOIN own o ON o.ref = c.dep
    WHERE c.dep <> c.ref AND c.ref IN (SELECT ref FROM wanted)
    GROUP BY 1, 2
), charged AS (
    SELECT o.ref, o.w, o.weight, o.known, o.maint, o.down, least(o.down, coalesce(rb.bad, 0.0)) AS unreachable
    FROM own o LEFT JOIN root_bad rb ON rb.ref = o.ref AND rb.b = o.b
    WHERE o.weight > 0
), totals AS (
    SELECT ref, sum(known * w * weight) AS known_s, sum(maint * w * weight) AS maintenance_s,
           sum((down - unreachable) * w * weight) AS down_s, sum(unreachable * w * weight) AS unreachable_s
    FROM charged GROUP BY ref
)
SELECT w.kind, w.id, coalesce(t.known_s, 0), coalesce(t.maintenance_s, 0), coalesce(t.down_s, 0),
       coalesce(t.unreachable_s, 0)
FROM wanted w
LEFT JOIN totals t ON t.ref = w.ref
$$;

-- Uptime of every entity over [p_from, p_to), as ioc.store.uptime.uptimes gives it for a period ending at
-- p_to (contract section 9): ranges up to 2 days on the minute grid, the closed hours stored in
-- `uptime_hourly` from the range's first hour on (the first weighted per minute from p_from); longer ranges
-- on the hour grid, the closed local days (p_timezone, the upkeep's IOC_TIMEZONE) stored in `uptime_daily`
-- from the range's first day on (the first weighted per hour bucket). An entity uses its stored days or
-- hours without a gap from the first, before the day of its earliest mark in `uptime_dirty` or that of
-- anything it depends on (a mark of every day: none); the rest of the range is computed live
-- (ioc_views.uptime_live), normally today or the current hour. `p_kinds`: only entities of these kinds
-- (what they depend on is still computed, for their unreachable time); null: all. Refs are compared in the C collation: sorting
-- 20,000 of them in the database's own collation took most of the time.
CREATE FUNCTION ioc_views.entity_uptime(p_from timestamptz, p_to timestamptz,
                                        p_timezone text DEFAULT 'Asia/Ho_Chi_Minh', p_kinds text[] DEFAULT NULL)
RETURNS TABLE (kind text, id text, known_s float8, maintenance_s float8, down_s float8, unreachable_s float8,
               uptime_pct float8)
LANGUAGE sql STABLE SET jit = off SET work_mem = '64MB' AS $$
WITH RECURSIVE p AS (
    SELECT CASE WHEN p_to - p_from <= interval '2 days' THEN 60.0::float8 ELSE 3600.0::float8 END AS w,
           extract(epoch FROM p_from)::float8 AS t0, extract(epoch FROM p_to)::float8 AS t1,
           (p_from AT TIME ZONE p_timezone)::date AS first_day, (p_to AT TIME ZONE p_timezone)::date AS today,
           floor(extract(epoch FROM p_from) / 3600) * 3600 AS first_hour,
           floor((extract(epoch FROM p_to) - 180) / 3600) * 3600 AS hours_end  -- ioc.store.uptime_marks.closed_before
), closure (ref, dep) AS (
    SELECT (f.kind || '/' || f.id) COLLATE "C", d.dep COLLATE "C"
    FROM ioc_views.entity_facts f CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
    UNION
    SELECT c.ref, d.dep COLLATE "C"
    FROM closure c JOIN ioc_views.entity_facts f ON (f.kind || '/' || f.id) COLLATE "C" = c.dep
    CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
), own_marks AS (  -- the start of each entity's earliest marked UTC day; -infinity: every day
    SELECT (kind || '/' || entity) COLLATE "C" AS ref,
           CASE WHEN min(day) = date '0001-01-01' THEN '-infinity'::float8
                ELSE extract(epoch FROM min(day)::timestamp AT TIME ZONE 'UTC')::float8 END AS since
    FROM ioc_views.uptime_marks GROUP BY kind, entity
), marks AS (
    SELECT x.ref, min(x.since) AS since
    FROM (SELECT ref, since FROM own_marks
          UNION ALL
          SELECT c.ref, m.since FROM closure c JOIN own_marks m ON m.ref = c.dep) x
    GROUP BY 1
), day_rows AS (
    SELECT d.kind, d.entity, d.day, d.known_s, d.maintenance_s, d.down_s, d.unreachable_s,
           row_number() OVER (PARTITION BY d.kind, d.entity ORDER BY d.day) AS rn
    FROM ioc_views.uptime_days d, p
    WHERE p.w = 3600 AND d.timezone = p_timezone AND d.day >= p.first_day AND d.day < p.today
      AND (p_kinds IS NULL OR d.kind = ANY (p_kinds))
), day_upto AS (  -- the first day not usable: missing (a gap) or marked
    SELECT r.kind, r.entity,
           p.first_day + least(count(*) FILTER (WHERE r.day - p.first_day = r.rn - 1)::integer,
                               CASE WHEN m.since IS NULL THEN 2147483647
                                    WHEN m.since = '-infinity' THEN 0
                                    ELSE greatest(0, (to_timestamp(m.since) AT TIME ZONE p_timezone)::date - p.first_day)
                               END) AS upto
    FROM day_rows r CROSS JOIN p
    LEFT JOIN marks m ON m.ref = (r.kind || '/' || r.entity) COLLATE "C"
    GROUP BY r.kind, r.entity, p.first_day, m.since
), day_first AS MATERIALIZED (  -- the first day's buckets weighted by their overlap with the range
    SELECT d.kind, d.entity, coalesce(h.k, 0) AS known_s, coalesce(h.m, 0) AS maintenance_s,
           coalesce(h.d, 0) AS down_s, coalesce(h.u, 0) AS unreachable_s
    FROM ioc_views.uptime_days d, p
    CROSS JOIN LATERAL (
        SELECT sum(x.k * x.wt) AS k, sum(x.m * x.wt) AS m, sum(x.d * x.wt) AS d, sum(x.u * x.wt) AS u
        FROM (SELECT a.k, a.m, a.d, a.u,
                     least(1.0, greatest(0.0, (least(p.t1, extract(epoch FROM d.first_bucket) + 3600.0 * a.i)
                                               - greatest(p.t0, extract(epoch FROM d.first_bucket) + 3600.0 * (a.i - 1)))
                                              / 3600.0)) AS wt
              FROM unnest(d.hours_known, d.hours_maintenance, d.hours_down, d.hours_unreachable)
                   WITH ORDINALITY AS a(k, m, d, u, i)) x
    ) h
    WHERE p.w = 3600 AND d.timezone = p_timezone AND d.day = p.first_day AND (p_kinds IS NULL OR d.kind = ANY (p_kinds))
), day_stored AS (
    SELECT u.kind, u.entity, (u.upto::timestamp AT TIME ZONE p_timezone) AS live_from,
           f.known_s + coalesce(sum(r.known_s), 0) AS known_s,
           f.maintenance_s + coalesce(sum(r.maintenance_s), 0) AS maintenance_s,
           f.down_s + coalesce(sum(r.down_s), 0) AS down_s,
           f.unreachable_s + coalesce(sum(r.unreachable_s), 0) AS unreachable_s
    FROM day_upto u CROSS JOIN p
    JOIN day_first f ON f.kind = u.kind AND f.entity = u.entity
    LEFT JOIN day_rows r ON r.kind = u.kind AND r.entity = u.entity AND r.day > p.first_day AND r.day < u.upto
    WHERE u.upto > p.first_day
    GROUP BY u.kind, u.entity, u.upto, f.known_s, f.maintenance_s, f.down_s, f.unreachable_s
), hour_rows AS (
    SELECT h.kind, h.entity, extract(epoch FROM h.hour)::float8 AS hs, h.known_s, h.maintenance_s, h.down_s,
           h.unreachable_s, row_number() OVER (PARTITION BY h.kind, h.entity ORDER BY h.hour) AS rn
    FROM ioc_views.uptime_hours h, p
    WHERE p.w = 60 AND h.hour >= to_timestamp(p.first_hour) AND h.hour < to_timestamp(p.hours_end)
      AND (p_kinds IS NULL OR h.kind = ANY (p_kinds))
), hour_upto AS (  -- how many hours are usable: without a gap from the first, before the earliest mark
    SELECT r.kind, r.entity,
           least(count(*) FILTER (WHERE r.hs = p.first_hour + 3600.0 * (r.rn - 1))::integer,
                 CASE WHEN m.since IS NULL THEN 2147483647
                      WHEN m.since = '-infinity' THEN 0
                      ELSE greatest(0, floor((m.since - p.first_hour) / 3600))::integer END) AS n
    FROM hour_rows r CROSS JOIN p
    LEFT JOIN marks m ON m.ref = (r.kind || '/' || r.entity) COLLATE "C"
    GROUP BY r.kind, r.entity, p.first_hour, m.since
), hour_first AS MATERIALIZED (  -- the first hour's minutes from p_from on
    SELECT h.kind, h.entity, coalesce(x.k, 0) AS known_s, coalesce(x.m, 0) AS maintenance_s,
           coalesce(x.d, 0) AS down_s, coalesce(x.u, 0) AS unreachable_s
    FROM ioc_views.uptime_hours h, p
    CROSS JOIN LATERAL (
        SELECT sum(y.k * y.wt) AS k, sum(y.m * y.wt) AS m, sum(y.d * y.wt) AS d, sum(y.u * y.wt) AS u
        FROM (SELECT a.k, a.m, a.d, a.u,
                     least(1.0, greatest(0.0, (p.first_hour + 60.0 * a.i - greatest(p.t0, p.first_hour + 60.0 * (a.i - 1)))
                                              / 60.0)) AS wt
              FROM unnest(h.minutes_known, h.minutes_maintenance, h.minutes_down, h.minutes_unreachable)
                   WITH ORDINALITY AS a(k, m, d, u, i)) y
    ) x
    WHERE p.w = 60 AND h.hour = to_timestamp(p.first_hour) AND p.first_hour < p.hours_end
      AND (p_kinds IS NULL OR h.kind = ANY (p_kinds))
), hour_stored AS (
    SELECT u.kind, u.entity, to_timestamp(p.first_hour + 3600.0 * u.n) AS live_from,
           f.known_s + coalesce(sum(r.known_s), 0) AS known_s,
           f.maintenance_s + coalesce(sum(r.maintenance_s), 0) AS maintenance_s,
           f.down_s + coalesce(sum(r.down_s), 0) AS down_s,
           f.unreachable_s + coalesce(sum(r.unreachable_s), 0) AS unreachable_s
    FROM hour_upto u CROSS JOIN p
    JOIN hour_first f ON f.kind = u.kind AND f.entity = u.entity
    LEFT JOIN hour_rows r ON r.kind = u.kind AND r.entity = u.entity AND r.rn > 1 AND r.rn <= u.n
    WHERE u.n > 0
    GROUP BY u.kind, u.entity, u.n, p.first_hour, f.known_s, f.maintenance_s, f.down_s, f.unreachable_s
), stored AS (
    SELECT * FROM day_stored UNION ALL SELECT * FROM hour_stored
), plan AS (
    SELECT array_agg(f.kind) AS kinds, array_agg(f.id) AS ids, array_agg(s.live_from) AS count_from
    FROM ioc_views.entity_facts f
    LEFT JOIN stored s ON s.kind = f.kind AND s.entity = f.id
    WHERE p_kinds IS NULL OR f.kind = ANY (p_kinds)
), live AS (
    SELECT l.* FROM plan CROSS JOIN p
    CROSS JOIN LATERAL ioc_views.uptime_live(p_from, p_to, p.w, plan.kinds, plan.ids, plan.count_from) l
), totals AS (
    SELECT l.kind, l.id, l.known_s + coalesce(s.known_s, 0) AS known_s,
           l.maintenance_s + coalesce(s.maintenance_s, 0) AS maintenance_s,
           l.down_s + coalesce(s.down_s, 0) AS down_s, l.unreachable_s + coalesce(s.unreachable_s, 0) AS unreachable_s
    FROM live l LEFT JOIN stored s ON s.kind = l.kind AND s.entity = l.id
)
SELECT t.kind, t.id, t.known_s, t.maintenance_s, t.down_s, t.unreachable_s,
       CASE WHEN t.known_s - t.maintenance_s > 1e-9
            THEN round((100.0 * greatest(0.0, t.known_s - t.maintenance_s - t.down_s)
                        / (t.known_s - t.maintenance_s))::numeric, 3)::float8 END
FROM totals t
$$;

-- Increase of each standard counter over [p_from, p_to), as ioc/store/kpis.py reads it: the whole hours
-- from `kpi_daily` (each UTC day's 24 hourly increases, kept by the store upkeep) where the series has
-- them without a gap from the range's first day and before the first day marked in `uptime_dirty` for its
-- entity (a mark of every day: none); the whole hours after that as 0720 counted them (an hour whose
-- smallest value is not below the largest of the hour before adds its largest value minus that one, the
-- other hours from the raw samples); the parts of the range that are not whole hours from the raw samples
-- (Prometheus `increase()` without extrapolation: a drop is a reset whose new value is the increase).
CREATE OR REPLACE FUNCTION ioc_views.counter_increase(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (series_id integer, kind text, entity text, metric text, increase float8)
LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT id, kind, entity, metric FROM ioc_views.series
        WHERE metric IN ('dossiers_received_total', 'dossiers_online_total', 'dossiers_done_total',
                         'dossiers_done_ontime_total', 'payments_online_total', 'satisfaction_votes_total',
                         'satisfaction_good_total')
    ), edges AS (
        SELECT h0, h1, (h0 AT TIME ZONE 'UTC')::date AS d0
        FROM (SELECT CASE WHEN p_from = date_trunc('hour', p_from) THEN p_from
                          ELSE date_trunc('hour', p_from) + interval '1 hour' END AS h0,
                     date_trunc('hour', p_to) AS h1) x
    ), day_rows AS (
        SELECT k.series_id, k.day, k.increases, row_number() OVER (PARTITION BY k.series_id ORDER BY k.day) AS rn
        FROM ioc_views.kpi_days k JOIN s ON s.id = k.series_id, edges e
        WHERE e.h0 < e.h1 AND k.day >= e.d0 AND k.day <= ((e.h1 - interval '1 hour') AT TIME ZONE 'UTC')::date
    ), marks AS (
        SELECT s.id AS series_id, min(m.day) AS day
        FROM s JOIN ioc_views.uptime_marks m ON m.kind = s.kind AND m.entity = s.entity
        GROUP BY 1
    ), usable AS (  -- per series, how many days from the first are stored and usable
        SELECT r.series_id,
               least(count(*) FILTER (WHERE r.day - e.d0 = r.rn - 1)::integer,
                     CASE WHEN m.day IS NULL THEN 2147483647 ELSE greatest(0, m.day - e.d0) END) AS n
        FROM day_rows r CROSS JOIN edges e LEFT JOIN marks m ON m.series_id = r.series_id
        GROUP BY r.series_id, e.d0, m.day
    ), stored AS (
        SELECT r.series_id, sum(a.v) AS increase
        FROM day_rows r
        JOIN usable u ON u.series_id = r.series_id AND r.rn <= u.n
        CROSS JOIN edges e
        CROSS JOIN LATERAL unnest(r.increases) WITH ORDINALITY AS a(v, i)
        WHERE (r.day::timestamp AT TIME ZONE 'UTC') + (a.i - 1) * interval '1 hour' >= e.h0
          AND (r.day::timestamp AT TIME ZONE 'UTC') + (a.i - 1) * interval '1 hour' < e.h1
        GROUP BY 1
    ), live AS MATERIALIZED (  -- each series' whole hours not stored: from here to h1
        SELECT s.id AS series_id,
               greatest(e.h0, least(e.h1, ((e.d0 + coalesce(u.n, 0))::timestamp AT TIME ZONE 'UTC'))) AS h0, e.h1
        FROM s CROSS JOIN edges e LEFT JOIN usable u ON u.series_id = s.id
        WHERE e.h0 < e.h1
    ), hours AS (  -- each whole live hour, and whether it is clean (no reset, the hour before known)
        SELECT h.series_id, h.bucket, h.max_value - h.prev_max AS increase,
               (h.prev_bucket = h.bucket - interval '1 hour' AND h.min_value >= h.prev_max) IS TRUE AS clean
        FROM (
            SELECT l.series_id, l.h0, x.bucket, x.min_value, x.max_value,
                   lag(x.max_value) OVER w AS prev_max, lag(x.bucket) OVER w AS prev_bucket
            FROM live l
            CROSS JOIN LATERAL (SELECT r.bucket, r.min_value, r.max_value FROM ioc_views.samples_1h r
                                WHERE r.series_id = l.series_id AND r.bucket >= l.h0 - interval '1 hour'
                                  AND r.bucket < l.h1) x
            WINDOW w AS (PARTITION BY l.series_id ORDER BY x.bucket)
        ) h
        WHERE h.bucket >= h.h0
    ), clean AS (
        SELECT series_id, sum(increase) AS increase FROM hours WHERE clean GROUP BY 1
    ), windows AS (  -- what is counted from the raw samples: [lo, hi) per series
        SELECT s.id AS series_id, p_from AS lo, least(p_to, e.h0) AS hi FROM s, edges e WHERE p_from < e.h0
        UNION ALL
        SELECT s.id, greatest(p_from, e.h1), p_to FROM s, edges e WHERE e.h1 < p_to AND e.h0 <= e.h1
        UNION ALL
        SELECT s.id, p_from, p_to FROM s, edges e WHERE e.h0 > e.h1
        UNION ALL
        SELECT series_id, bucket, bucket + interval '1 hour' FROM hours WHERE NOT clean
    ), raw AS (
        SELECT w.series_id,
               sum(CASE WHEN d.value - d.before < 0 THEN d.value ELSE d.value - d.before END) AS increase
        FROM windows w
        CROSS JOIN LATERAL (
            SELECT x.value, coalesce(lag(x.value) OVER (ORDER BY x.ts),
                                     (SELECT p.value FROM ioc_views.samples p WHERE p.series_id = w.series_id
                                        AND p.ts < w.lo ORDER BY p.ts DESC LIMIT 1)) AS before
            FROM ioc_views.samples x WHERE x.series_id = w.series_id AND x.ts >= w.lo AND x.ts < w.hi
        ) d
        WHERE d.before IS NOT NULL
        GROUP BY 1
    )
    SELECT s.id, s.kind, s.entity, s.metric, coalesce(st.increase, 0) + coalesce(c.increase, 0) + coalesce(r.increase, 0)
    FROM s
    LEFT JOIN stored st ON st.series_id = s.id
    LEFT JOIN clean c ON c.series_id = s.id
    LEFT JOIN raw r ON r.series_id = s.id
$$;

-- One series' rollup for a range, as ioc_views.rollup chooses it (minutes up to 6 hours, hours beyond):
-- joined LATERAL per series, a chart of 250 links over 30 days reads their 180,000 hour rows by the
-- primary key instead of every series' 830,000 (bench/dashboards.py). Inlined by the planner.
CREATE FUNCTION ioc_views.series_rollup(p_series_id integer, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, cnt bigint, total float8, min_value float8, max_value float8)
LANGUAGE sql STABLE AS $$
    SELECT bucket, cnt, total, min_value, max_value FROM ioc_views.samples_1m
    WHERE p_to - p_from <= interval '6 hours' AND series_id = p_series_id AND bucket >= p_from AND bucket <= p_to
    UNION ALL
    SELECT bucket, cnt, total, min_value, max_value FROM ioc_views.samples_1h
    WHERE p_to - p_from > interval '6 hours' AND series_id = p_series_id
      AND bucket >= date_trunc('hour', p_from) AND bucket <= p_to
$$;

-- The role: the new views and functions, as 0720 granted the others.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA ioc_views TO ioc_grafana;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views TO ioc_grafana;
    END IF;
END $$;
