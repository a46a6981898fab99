-- Contract section 9: one-off maintenance windows beside the recurring ones, and an entity whose
-- latest `up` sample (of the last hour) is 0 is down (the view of 0400 counted only `offline` and silence).

ALTER TABLE maintenance_windows
    ALTER COLUMN weekdays DROP NOT NULL,
    ALTER COLUMN start_time DROP NOT NULL,
    ALTER COLUMN duration DROP NOT NULL,
    ADD COLUMN starts_at timestamptz,
    ADD COLUMN ends_at timestamptz,
    ADD CONSTRAINT maintenance_windows_one_form CHECK (
        (weekdays IS NOT NULL AND start_time IS NOT NULL AND duration IS NOT NULL
         AND starts_at IS NULL AND ends_at IS NULL)
        OR (weekdays IS NULL AND start_time IS NULL AND duration IS NULL
            AND starts_at IS NOT NULL AND ends_at > starts_at));
CREATE INDEX maintenance_windows_ends_at ON maintenance_windows (ends_at);

-- The same rules as ioc/status.py, now with `up` = 0 and one-off windows.
CREATE OR REPLACE VIEW entity_status AS
WITH RECURSIVE base AS (
    SELECT e.kind, e.id, e.name, e.site, e.agency, e.system, e.assigned, e.last_seen, e.mqtt_status,
           e.depends_on,
           e.kind || '/' || e.id AS ref,
           greatest(e.last_seen, e.mqtt_status_at) AS heard,
           jsonb_strip_nulls(jsonb_build_object('kind', e.kind, 'entity', e.id, 'site', e.site,
                                                'agency', e.agency)) AS labels,
           CASE WHEN e.interval_s > 0 THEN least(3 * e.interval_s, 300) ELSE 300 END AS heartbeat_s
    FROM entities e
), up_zero AS (
    SELECT l.kind, l.entity FROM (
        SELECT DISTINCT ON (s.kind, s.entity) s.kind, s.entity, x.value
        FROM series s
        CROSS JOIN LATERAL (SELECT ts, value FROM samples WHERE series_id = s.id
                            AND ts > now() - interval '1 hour' AND ts <= now() ORDER BY ts DESC LIMIT 1) x
        WHERE s.metric = 'up'
        ORDER BY s.kind, s.entity, x.ts DESC, x.value
    ) l WHERE l.value = 0
), flagged AS (
    SELECT b.*,
           (b.mqtt_status = 'offline'
            OR EXISTS (SELECT 1 FROM up_zero u WHERE u.kind = b.kind AND u.entity = b.id)
            OR (b.heard IS NOT NULL AND now() - b.heard > make_interval(secs => b.heartbeat_s))) AS is_down
    FROM base b
), deps (ref, dep) AS (
    SELECT f.ref, d.dep FROM flagged f CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
    UNION
    SELECT deps.ref, d.dep
    FROM deps JOIN flagged f ON f.ref = deps.dep CROSS JOIN LATERAL unnest(f.depends_on) AS d(dep)
    WHERE d.dep <> deps.ref
), active_matchers AS (
    SELECT CASE jsonb_typeof(s.matchers)
               WHEN 'object' THEN s.matchers
               ELSE (SELECT coalesce(jsonb_object_agg(m ->> 'name', m ->> 'value'), '{}'::jsonb)
                     FROM jsonb_array_elements(s.matchers) AS m
                     WHERE m ? 'name' AND m ? 'value')
           END AS matchers
    FROM silences s
    WHERE s.starts_at <= now() AND now() < s.ends_at AND (s.expired_at IS NULL OR s.expired_at > now())
    UNION ALL
    SELECT w.matchers
    FROM maintenance_windows w
    CROSS JOIN LATERAL generate_series(0, floor(extract(epoch FROM w.duration) / 86400)::integer + 1) AS back
    CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE w.timezone) AS local_now) AS l
    CROSS JOIN LATERAL (SELECT (l.local_now::date - back) AS day) AS d
    WHERE w.starts_at IS NULL AND extract(epoch FROM w.duration) > 0
      AND extract(isodow FROM d.day)::smallint = ANY (w.weekdays)
      AND d.day + w.start_time <= l.local_now
      AND l.local_now < d.day + w.start_time + w.duration
    UNION ALL
    SELECT w.matchers FROM maintenance_windows w WHERE w.starts_at <= now() AND now() < w.ends_at
)
SELECT f.kind, f.id, f.name, f.site, f.agency, f.system, f.assigned, f.last_seen,
       CASE
           WHEN EXISTS (SELECT 1 FROM active_matchers m
                        WHERE m.matchers <> '{}'::jsonb AND f.labels @> m.matchers) THEN 'maintenance'
           WHEN f.heard IS NULL AND f.mqtt_status IS NULL THEN 'unknown'
           WHEN f.is_down AND EXISTS (SELECT 1 FROM deps JOIN flagged d ON d.ref = deps.dep
                                      WHERE deps.ref = f.ref AND d.is_down) THEN 'unreachable'
           WHEN f.is_down THEN 'down'
           WHEN EXISTS (SELECT 1 FROM alerts a
                        WHERE a.state = 'firing' AND a.severity IN ('warning', 'critical')
                          AND a.kind = f.kind AND a.entity = f.id) THEN 'degraded'
           ELSE 'ok'
       END AS status
FROM flagged f;
