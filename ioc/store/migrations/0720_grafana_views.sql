-- What Grafana reads (contract section 12): the schema `ioc_views`, whose views and functions are the
-- only objects the dashboards query, and the role `ioc_grafana`, which may read them and nothing else
-- (no API key hash, audit record, user or session). Views run with their owner's (the migrating
-- user's) privileges, so SELECT on a view is all the role needs; the functions read only views of
-- this schema. `ioc migrate` gives the role its LOGIN PASSWORD from IOC_GRAFANA_DB_PASSWORD.

CREATE SCHEMA ioc_views;

-- Inventory ---------------------------------------------------------------------------------------

CREATE VIEW ioc_views.agencies AS
SELECT id, name, coalesce(attrs ->> 'status_page', 'public') AS status_page FROM agencies;

CREATE VIEW ioc_views.sites AS
SELECT id, name, parent,
       CASE WHEN jsonb_typeof(attrs -> 'lat') = 'number' THEN (attrs ->> 'lat')::float8 END AS lat,
       CASE WHEN jsonb_typeof(attrs -> 'lon') = 'number' THEN (attrs ->> 'lon')::float8 END AS lon
FROM sites;

-- Entities with their status now (the rules of ioc/status.py, view `entity_status`) and, while down,
-- since when: the `offline` message, the end of the heartbeat after the last word, or the first `up`
-- of 0 after the last `up` above 0.
CREATE VIEW ioc_views.entities AS
SELECT st.kind, st.id, coalesce(st.name, st.id) AS name, st.site, si.name AS site_name, st.agency,
       ag.name AS agency_name, st.system, st.assigned, st.status, st.last_seen, e.depends_on,
       e.interval_s, e.mqtt_status, e.mqtt_status_at, e.first_seen,
       CASE WHEN st.status IN ('down', 'unreachable') THEN
           CASE
               WHEN e.mqtt_status = 'offline' THEN e.mqtt_status_at
               WHEN now() - greatest(e.last_seen, e.mqtt_status_at)
                    > make_interval(secs => CASE WHEN e.interval_s > 0 THEN least(3 * e.interval_s, 300) ELSE 300 END)
                   THEN greatest(e.last_seen, e.mqtt_status_at)
                        + make_interval(secs => CASE WHEN e.interval_s > 0 THEN least(3 * e.interval_s, 300) ELSE 300 END)
               ELSE (SELECT min(z.ts) FROM series s JOIN samples z ON z.series_id = s.id
                     WHERE s.kind = st.kind AND s.entity = st.id AND s.metric = 'up' AND z.value = 0
                       AND z.ts > now() - interval '1 hour'
                       AND z.ts > coalesce((SELECT max(o.ts) FROM samples o WHERE o.series_id = s.id AND o.value > 0
                                              AND o.ts > now() - interval '1 hour'), '-infinity'))
           END
       END AS down_since,
       si.lat, si.lon
FROM entity_status st
JOIN entities e ON e.kind = st.kind AND e.id = st.id
LEFT JOIN ioc_views.sites si ON si.id = st.site
LEFT JOIN agencies ag ON ag.id = st.agency;

-- The inventory's entities as stored, without their status (cheap to join).
CREATE VIEW ioc_views.entity_facts AS
SELECT kind, id, coalesce(name, id) AS name, site, agency, system, assigned, depends_on, interval_s,
       CASE WHEN interval_s > 0 AND interval_s < 'Infinity' THEN least(3 * interval_s, 300) ELSE 300 END AS heartbeat_s,
       first_seen, last_seen, mqtt_status, mqtt_status_at,
       jsonb_strip_nulls(jsonb_build_object('kind', kind, 'entity', id, 'site', site, 'agency', agency)) AS labels
FROM entities;

-- Samples -----------------------------------------------------------------------------------------

CREATE VIEW ioc_views.series AS SELECT id, kind, entity, metric, labels FROM series;
CREATE VIEW ioc_views.samples AS SELECT series_id, ts, value FROM samples;
CREATE VIEW ioc_views.samples_1m AS SELECT series_id, bucket, cnt, total, min_value, max_value FROM samples_1m;
CREATE VIEW ioc_views.samples_1h AS SELECT series_id, bucket, cnt, total, min_value, max_value FROM samples_1h;
CREATE VIEW ioc_views.status_changes AS SELECT kind, entity, ts, status FROM status_changes;
CREATE VIEW ioc_views.dead_letters AS SELECT id, received_at, topic, reason, detail FROM dead_letters;
CREATE VIEW ioc_views.events AS SELECT id, kind, entity, ts, type, severity, message FROM events;

-- The rollup a panel reads for a range: minutes up to 6 hours, hours beyond (both back ends), so a chart
-- of every link over a day reads 24 rows a series, not 1,440 (bench/dashboards.py).
CREATE FUNCTION ioc_views.rollup(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (series_id integer, bucket timestamptz, cnt bigint, total float8, min_value float8, max_value float8)
LANGUAGE sql STABLE AS $$
    SELECT series_id, bucket, cnt, total, min_value, max_value FROM ioc_views.samples_1m
    WHERE p_to - p_from <= interval '6 hours' AND bucket >= p_from AND bucket <= p_to
    UNION ALL
    SELECT series_id, bucket, cnt, total, min_value, max_value FROM ioc_views.samples_1h
    WHERE p_to - p_from > interval '6 hours' AND bucket >= date_trunc('hour', p_from) AND bucket <= p_to
$$;

-- Alerts ------------------------------------------------------------------------------------------

-- Matchers of the silences and maintenance windows active now (as the view entity_status reads them).
CREATE VIEW ioc_views.active_mutes AS
SELECT 'silence#' || s.id AS source,
       CASE jsonb_typeof(s.matchers)
           WHEN 'object' THEN s.matchers
           ELSE (SELECT coalesce(jsonb_object_agg(m ->> 'name', m ->> 'value'), '{}'::jsonb)
                 FROM jsonb_array_elements(s.matchers) AS m WHERE m ? 'name' AND m ? 'value')
       END AS matchers
FROM silences s
WHERE s.starts_at <= now() AND now() < s.ends_at AND (s.expired_at IS NULL OR s.expired_at > now())
UNION ALL
SELECT 'maintenance#' || w.id, w.matchers
FROM maintenance_windows w
CROSS JOIN LATERAL generate_series(0, floor(extract(epoch FROM w.duration) / 86400)::integer + 1) AS back
CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE w.timezone) AS local_now) AS l
CROSS JOIN LATERAL (SELECT (l.local_now::date - back) AS day) AS d
WHERE w.starts_at IS NULL AND extract(epoch FROM w.duration) > 0
  AND extract(isodow FROM d.day)::smallint = ANY (w.weekdays)
  AND d.day + w.start_time <= l.local_now
  AND l.local_now < d.day + w.start_time + w.duration
UNION ALL
SELECT 'maintenance#' || w.id, w.matchers FROM maintenance_windows w WHERE w.starts_at <= now() AND now() < w.ends_at;

-- Every alert with what the console shows of it. `pages`: firing, not a symptom of a root cause that is
-- down (suppressed_by, topology) and not muted by a silence or maintenance window: what pages on-call.
CREATE VIEW ioc_views.alerts AS
SELECT a.id, a.rule, a.severity, a.state, a.kind, a.entity, coalesce(e.name, a.entity) AS entity_name,
       a.site, coalesce(si.name, a.site) AS site_name, coalesce(a.agency, e.agency) AS agency, a.summary, a.value,
       a.pending_since, a.starts_at, a.ends_at, a.suppressed_by, a.acked_by, a.acked_at,
       mute.source AS muted_by,
       (a.state = 'firing' AND a.suppressed_by IS NULL AND mute.source IS NULL) AS pages
FROM alerts a
LEFT JOIN entities e ON e.kind = a.kind AND e.id = a.entity
LEFT JOIN sites si ON si.id = a.site
LEFT JOIN LATERAL (
    SELECT m.source FROM ioc_views.active_mutes m
    WHERE a.state <> 'resolved' AND m.matchers <> '{}'::jsonb AND a.labels @> m.matchers
    ORDER BY m.source LIMIT 1
) mute ON true;

-- Incidents: alerts that fired as a root cause (not a topology symptom), open or ended.
CREATE VIEW ioc_views.incidents AS
SELECT id, rule, severity, kind, entity, entity_name, site, site_name, agency, summary, starts_at, ends_at,
       state = 'firing' AS open,
       extract(epoch FROM coalesce(ends_at, now()) - starts_at)::float8 AS duration_s
FROM ioc_views.alerts
WHERE starts_at IS NOT NULL AND suppressed_by IS NULL;

CREATE VIEW ioc_views.maintenance_windows AS
SELECT id, CASE jsonb_typeof(matchers)
               WHEN 'object' THEN matchers
               ELSE (SELECT coalesce(jsonb_object_agg(m ->> 'name', m ->> 'value'), '{}'::jsonb)
                     FROM jsonb_array_elements(matchers) AS m WHERE m ? 'name' AND m ? 'value')
           END AS matchers,
       weekdays, start_time, duration, timezone, starts_at, ends_at, comment
FROM maintenance_windows;

-- Uptime ------------------------------------------------------------------------------------------

-- Uptime of every entity over [p_from, p_to): the definition of ioc/uptime.py (contract section 9) on
-- the same bucket grid as ioc/store/uptime.py (minutes up to 2 days, hours beyond), in SQL, so a panel
-- reads the figures the API and status pages give. Per bucket: known from the entity's first data;
-- maintenance while a matching window is open; down, the largest of offline (from `offline` to the next
-- `online`), silence (a heartbeat past the last bucket with data to the next) and the probe (1 - mean
-- `up`, carried over empty buckets up to the heartbeat); unreachable, the part of the down time while
-- something it depends on is down or in maintenance, charged to that root cause. Each bucket counts for
-- the part of it inside the range. tests/dashboards check it against ioc.store.uptime.
CREATE FUNCTION ioc_views.entity_uptime(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (kind text, id text, known_s float8, maintenance_s float8, down_s float8, unreachable_s float8,
               uptime_pct float8)
LANGUAGE sql STABLE SET jit = off AS $$
WITH RECURSIVE grid AS (
    SELECT w, g0, t0, t1, ceil((t1 - g0) / w)::integer AS n
    FROM (SELECT w, floor(extract(epoch FROM p_from) / w) * w AS g0,
                 extract(epoch FROM p_from)::float8 AS t0, extract(epoch FROM p_to)::float8 AS t1
          FROM (SELECT CASE WHEN p_to - p_from <= interval '2 days' THEN 60.0::float8 ELSE 3600.0::float8 END AS w) x
         ) y
), first_data AS (
    SELECT s.kind, s.entity, min(CASE WHEN m.bucket < h.bucket + interval '1 hour' THEN m.bucket ELSE h.bucket END) AS ts
    FROM ioc_views.series s
    CROSS JOIN LATERAL (SELECT bucket FROM ioc_views.samples_1h WHERE series_id = s.id ORDER BY bucket LIMIT 1) h
    LEFT JOIN LATERAL (SELECT bucket FROM ioc_views.samples_1m WHERE series_id = s.id ORDER BY bucket LIMIT 1) m ON true
    GROUP BY 1, 2
    UNION ALL
    SELECT c.kind, c.entity, min(c.ts) FROM ioc_views.status_changes c GROUP BY 1, 2
), ent AS (
    SELECT e.kind, e.id, e.kind || '/' || e.id AS ref, e.depends_on, e.heartbeat_s AS hb, e.labels,
           extract(epoch FROM least(min(f.ts), least(e.first_seen, e.mqtt_status_at)))::float8 AS kf
    FROM ioc_views.entity_facts e
    LEFT JOIN first_data f ON f.kind = e.kind AND f.entity = e.id
    GROUP BY e.kind, e.id, e.depends_on, e.heartbeat_s, e.labels, e.first_seen, e.mqtt_status_at
    HAVING min(f.ts) IS NOT NULL
), roll AS (
    SELECT e.ref, floor((extract(epoch FROM x.bucket) - g.g0) / g.w)::integer AS b,
           sum(x.cnt) FILTER (WHERE s.metric = 'up')::float8 AS up_cnt,
           sum(x.total) FILTER (WHERE s.metric = 'up') AS up_total
    FROM grid g
    CROSS JOIN LATERAL (
        SELECT r.series_id, r.bucket, r.cnt, r.total FROM ioc_views.samples_1m r
        WHERE g.w = 60 AND r.bucket >= to_timestamp(g.g0) AND r.bucket < p_to
        UNION ALL
        SELECT r.series_id, r.bucket, r.cnt, r.total FROM ioc_views.samples_1h r
        WHERE g.w = 3600 AND r.bucket >= to_timestamp(g.g0) AND r.bucket < p_to
    ) x
    JOIN ioc_views.series s ON s.id = x.series_id
    JOIN ent e ON e.kind = s.kind AND e.id = s.entity
    GROUP BY 1, 2
), changes AS (
    SELECT e.ref, extract(epoch FROM c.ts)::float8 AS ts, c.status
    FROM grid g, ent e
    CROSS JOIN LATERAL (
        (SELECT ts, status FROM ioc_views.status_changes
         WHERE kind = e.kind AND entity = e.id AND ts < to_timestamp(g.g0) ORDER BY ts DESC LIMIT 1)
        UNION ALL
        SELECT ts, status FROM ioc_views.status_changes
        WHERE kind = e.kind AND entity = e.id AND ts >= to_timestamp(g.g0) AND ts < p_to
    ) c
), heard AS (
    SELECT ref, b FROM roll
    UNION
    SELECT c.ref, floor((c.ts - g.g0) / g.w)::integer FROM changes c, grid g WHERE c.ts >= g.g0 AND c.ts < g.g0 + g.n * g.w
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
    UNION ALL  -- data before the grid: taken as heard at its start
    SELECT e.ref, g.g0, coalesce(g.g0 + f.b * g.w, g.t1)
    FROM ent e CROSS JOIN grid g
    LEFT JOIN (SELECT h.ref, min(h.b) AS b FROM heard h GROUP BY h.ref) f ON f.ref = e.ref
    WHERE e.kf < g.g0
), silent AS (
    SELECT n.ref, n.heard_end + e.hb AS lo, least(n.next_start, g.t1) AS hi
    FROM heard_next n JOIN ent e ON e.ref = n.ref, grid g
), maint AS (
    SELECT e.ref, greatest(g.g0, o.lo) AS lo, least(g.t1, o.hi) AS hi
    FROM grid g
    JOIN ioc_views.maintenance_windows w ON w.matchers <> '{}'::jsonb
    JOIN ent e ON e.labels @> w.matchers
    CROSS JOIN LATERAL (
        SELECT extract(epoch FROM w.starts_at)::float8 AS lo, extract(epoch FROM w.ends_at)::float8 AS hi
        WHERE w.starts_at IS NOT NULL
        UNION ALL
        SELECT extract(epoch FROM (d.day + w.start_time) AT TIME ZONE w.timezone)::float8,
               extract(epoch FROM (d.day + w.start_time) AT TIME ZONE w.timezone + w.duration)::float8
        FROM generate_series(((to_timestamp(g.g0) AT TIME ZONE w.timezone)::date
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
    FROM intervals i, grid g,
         generate_series(greatest(0, floor((i.lo::float8 - g.g0) / g.w)::integer),
                         least(g.n - 1, floor((i.hi::float8 - g.g0) / g.w)::integer)) AS b
    GROUP BY i.ref, b, g.w
), cells AS (
    SELECT e.ref, gs.b, e.hb, g.w,
           least(1.0, greatest(0.0, least(g.t1, g.g0 + (gs.b + 1) * g.w) - greatest(e.kf, g.g0 + gs.b * g.w)) / g.w)
               AS known,
           greatest(0.0, least(g.t1, g.g0 + (gs.b + 1) * g.w) - greatest(g.t0, g.g0 + gs.b * g.w)) / g.w AS weight,
           CASE WHEN r.up_cnt > 0 THEN r.up_total / r.up_cnt END AS up_mean
    FROM ent e CROSS JOIN grid g
    CROSS JOIN LATERAL generate_series(greatest(0, floor((e.kf - g.g0) / g.w)::integer), g.n - 1) AS gs(b)
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
), closure (ref, dep) AS (
    SELECT e.ref, d.dep FROM ent e CROSS JOIN LATERAL unnest(e.depends_on) AS d(dep)
    UNION
    SELECT c.ref, d.dep FROM closure c JOIN ioc_views.entity_facts f ON f.kind || '/' || f.id = c.dep
    CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
), root_bad AS (
    SELECT c.ref, o.b, max(greatest(o.maint, o.down)) AS bad
    FROM closure c JOIN own o ON o.ref = c.dep
    WHERE c.dep <> c.ref
    GROUP BY 1, 2
), charged AS (
    SELECT o.ref, o.w, o.weight, o.known, o.maint, o.down, least(o.down, coalesce(rb.bad, 0.0)) AS unreachable
    FROM own o LEFT JOIN root_bad rb ON rb.ref = o.ref AND rb.b = o.b
), totals AS (
    SELECT ref, sum(known * w * weight) AS known_s, sum(maint * w * weight) AS maintenance_s,
           sum((down - unreachable) * w * weight) AS down_s, sum(unreachable * w * weight) AS unreachable_s
    FROM charged GROUP BY ref
)
SELECT f.kind, f.id, coalesce(t.known_s, 0), coalesce(t.maintenance_s, 0), coalesce(t.down_s, 0),
       coalesce(t.unreachable_s, 0),
       CASE WHEN t.known_s - t.maintenance_s > 1e-9
            THEN round((100.0 * greatest(0.0, t.known_s - t.maintenance_s - t.down_s)
                        / (t.known_s - t.maintenance_s))::numeric, 3)::float8 END
FROM ioc_views.entity_facts f
LEFT JOIN totals t ON t.ref = f.kind || '/' || f.id
$$;

-- KPIs --------------------------------------------------------------------------------------------

-- Increase of each standard counter over [p_from, p_to), as ioc/kpis.py counts it (Prometheus `increase()`
-- without extrapolation: a drop is a reset whose new value is the increase; the sample before the range is
-- the first one's predecessor), read the way ioc/store/kpis.py reads it: a whole hour whose smallest value
-- is not below the largest of the hour before has no reset, and adds its largest value minus that one (hour
-- rollup); the other hours (a reset, no hour before) and the parts of the range that are not whole hours
-- are counted from the raw samples.
CREATE FUNCTION ioc_views.counter_increase(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (series_id integer, kind text, entity text, metric text, increase float8)
LANGUAGE sql STABLE AS $$
    WITH s AS (
        SELECT id, kind, entity, metric FROM ioc_views.series
        WHERE metric IN ('dossiers_received_total', 'dossiers_online_total', 'dossiers_done_total',
                         'dossiers_done_ontime_total', 'payments_online_total', 'satisfaction_votes_total',
                         'satisfaction_good_total')
    ), edges AS (
        SELECT CASE WHEN p_from = date_trunc('hour', p_from) THEN p_from
                    ELSE date_trunc('hour', p_from) + interval '1 hour' END AS h0,
               date_trunc('hour', p_to) AS h1
    ), hours AS (  -- each whole hour of the range, and whether it is clean (no reset, the hour before known)
        SELECT h.series_id, h.bucket, h.max_value - h.prev_max AS increase,
               (h.prev_bucket = h.bucket - interval '1 hour' AND h.min_value >= h.prev_max) IS TRUE AS clean
        FROM (
            SELECT s.id AS series_id, x.bucket, x.min_value, x.max_value,
                   lag(x.max_value) OVER w AS prev_max, lag(x.bucket) OVER w AS prev_bucket
            FROM s CROSS JOIN edges e
            CROSS JOIN LATERAL (SELECT r.bucket, r.min_value, r.max_value FROM ioc_views.samples_1h r
                                WHERE r.series_id = s.id AND r.bucket >= e.h0 - interval '1 hour'
                                  AND r.bucket < e.h1) x
            WINDOW w AS (PARTITION BY s.id ORDER BY x.bucket)
        ) h, edges e
        WHERE h.bucket >= e.h0
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
    SELECT s.id, s.kind, s.entity, s.metric, coalesce(c.increase, 0) + coalesce(r.increase, 0)
    FROM s
    LEFT JOIN clean c ON c.series_id = s.id
    LEFT JOIN raw r ON r.series_id = s.id
$$;

-- The Decision 766 figures of each agency over [p_from, p_to) (contract section 9, the same as
-- GET /api/v1/agencies/{id}/kpis): a share with a zero denominator is null; overdue is the sum of
-- each series' last `dossiers_overdue` in the range.
CREATE FUNCTION ioc_views.agency_kpis(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (agency text, agency_name text, dossiers_received float8, online_share_pct float8,
               ontime_share_pct float8, dossiers_overdue float8, online_payment_share_pct float8,
               satisfaction_pct float8)
LANGUAGE sql STABLE AS $$
    WITH inc AS (
        SELECT e.agency, c.metric, sum(c.increase) AS v
        FROM ioc_views.counter_increase(p_from, p_to) c
        JOIN ioc_views.entity_facts e ON e.kind = c.kind AND e.id = c.entity
        WHERE e.agency IS NOT NULL AND e.kind IN ('service', 'kiosk')
        GROUP BY 1, 2
    ), overdue AS (
        SELECT e.agency, sum(l.value) AS v
        FROM ioc_views.series s
        JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
        CROSS JOIN LATERAL (SELECT value FROM ioc_views.samples WHERE series_id = s.id AND ts >= p_from AND ts < p_to
                            ORDER BY ts DESC LIMIT 1) l
        WHERE s.metric = 'dossiers_overdue' AND e.agency IS NOT NULL AND e.kind IN ('service', 'kiosk')
        GROUP BY 1
    ), per AS (
        SELECT a.id AS agency, a.name,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'dossiers_received_total'), 0) AS received,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'dossiers_online_total'), 0) AS online,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'dossiers_done_total'), 0) AS done,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'dossiers_done_ontime_total'), 0) AS ontime,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'payments_online_total'), 0) AS paid,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'satisfaction_votes_total'), 0) AS votes,
               coalesce(sum(i.v) FILTER (WHERE i.metric = 'satisfaction_good_total'), 0) AS good
        FROM ioc_views.agencies a LEFT JOIN inc i ON i.agency = a.id
        GROUP BY 1, 2
    )
    SELECT p.agency, p.name, round(p.received::numeric, 3)::float8,
           CASE WHEN p.received > 0 THEN round((100.0 * p.online / p.received)::numeric, 2)::float8 END,
           CASE WHEN p.done > 0 THEN round((100.0 * p.ontime / p.done)::numeric, 2)::float8 END,
           o.v,
           CASE WHEN p.done > 0 THEN round((100.0 * p.paid / p.done)::numeric, 2)::float8 END,
           CASE WHEN p.votes > 0 THEN round((100.0 * p.good / p.votes)::numeric, 2)::float8 END
    FROM per p LEFT JOIN overdue o ON o.agency = p.agency
$$;

-- The role --------------------------------------------------------------------------------------

-- Roles belong to the whole server: created once (several databases, or migrators at once, may try).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        CREATE ROLE ioc_grafana NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE WARNING 'cannot create role ioc_grafana (no CREATEROLE): create it and rerun the grants of 0720';
END $$;

REVOKE ALL ON SCHEMA ioc_views FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ioc_grafana') THEN
        GRANT USAGE ON SCHEMA ioc_views TO ioc_grafana;
        GRANT SELECT ON ALL TABLES IN SCHEMA ioc_views TO ioc_grafana;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ioc_views TO ioc_grafana;
        EXECUTE format('ALTER ROLE ioc_grafana IN DATABASE %I SET search_path = ioc_views', current_database());
        -- The dashboards' queries are short; compiling them (JIT, for their large row estimates) took seconds.
        EXECUTE format('ALTER ROLE ioc_grafana IN DATABASE %I SET jit = off', current_database());
    END IF;
END $$;
