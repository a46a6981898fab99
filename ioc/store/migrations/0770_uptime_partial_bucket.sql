-- The live uptime part weighted the last, partial bucket twice: its fractions are already counted only up
-- to p_to, and its weight was again the share of the whole bucket width before p_to, so a range ending
-- mid-bucket lost most of that bucket (known, down and all). The weight is now the share of the bucket's
-- counted part, from its start to p_to, that lies in [p_from, p_to), as ioc.uptime.span_weights gives it.
-- ioc_views.uptime_live as in 0760, with that weight.
CREATE OR REPLACE FUNCTION ioc_views.uptime_live(p_from timestamptz, p_to timestamptz, p_w float8, p_kinds text[],
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
                ELSE coalesce(least(1.0, greatest(0.0, least(g.t1, g.g0 + (gs.b + 1) * g.w) - greatest(g.t0, g.g0 + gs.b * g.w))
                                         / nullif(least(g.t1, g.g0 + (gs.b + 1) * g.w) - (g.g0 + gs.b * g.w), 0.0)), 0.0)
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
