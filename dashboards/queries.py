"""SQL fragments over `ioc_views` that several dashboards share, filtered by the `site` and `agency` variables."""

from __future__ import annotations

from dashboards.common import site_and_agency

# Minutes up to 6 hours, hours beyond: the rollup of one series the range needs (`ioc_views.series_rollup`,
# joined LATERAL: read by the series' primary key, not every series' rows of the range).
SERIES_ROLLUP = "ioc_views.series_rollup(s.id, $__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
# A chart's line: each entity up to 2 days; beyond, each agency (the mean of its entities' samples), so a
# 30-day chart of 250 links draws a line per agency, not 180,000 points (bench/dashboards.py).
LINE = """CASE WHEN $__timeTo()::timestamptz - $__timeFrom()::timestamptz <= interval '2 days' THEN e.name
            ELSE coalesce(ag.name, e.agency, '(chưa gán)') END"""
ENTITY_FILTER = site_and_agency("e.site", "e.agency")


def metric_over_time(kind: str, metric: str) -> str:
    """A time series of one metric's mean from the rollups: per entity up to 2 days, per agency beyond (`LINE`).

    The rollup rows (180,000 for 250 links over 30 days) are summed per bucket start (date_bin: the time
    macro's buckets, Grafana's intervals all dividing a day) and line in the C collation, and the 7,000
    sums labelled by the macro and ordered after: the macro's numeric on every row took ~20 % of the query."""
    return f"""
SELECT $__timeGroupAlias(b.bucket, $__interval), b.metric, b.total / b.cnt AS value
FROM (
    SELECT date_bin(make_interval(secs => $__interval_ms / 1000.0), x.bucket, timestamptz 'epoch') AS bucket,
           ({LINE}) COLLATE "C" AS metric, sum(x.total) AS total, sum(x.cnt) AS cnt
    FROM ioc_views.series s
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
    LEFT JOIN ioc_views.agencies ag ON ag.id = e.agency
    CROSS JOIN LATERAL {SERIES_ROLLUP} x
    WHERE s.kind = '{kind}' AND s.metric = '{metric}' AND {ENTITY_FILTER}
    GROUP BY 1, 2
) b
ORDER BY b.bucket, b.metric COLLATE "default"
"""


def per_site(kind: str, metric: str, *, value: str = "sum(x.total) / sum(x.cnt)") -> str:
    """A time series per site of one metric: the mean per entity in each bucket, summed over the site's."""
    return f"""
SELECT "time", metric, sum(value) AS value
FROM (
    SELECT $__timeGroupAlias(x.bucket, $__interval), coalesce(si.name, e.site, '(chưa gán)') AS metric,
           {value} AS value
    FROM ioc_views.series s
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
    CROSS JOIN LATERAL {SERIES_ROLLUP} x
    LEFT JOIN ioc_views.sites si ON si.id = e.site
    WHERE s.kind = '{kind}' AND s.metric = '{metric}' AND {ENTITY_FILTER}
    GROUP BY 1, 2, s.id
) per_entity
GROUP BY 1, 2
ORDER BY 1, 2
"""


def latest_value(kind: str, metric: str, *, label: str, order: str = "value") -> str:
    """The last sample in the range of one metric, per entity: kind, id, name and value."""
    return f"""
SELECT kind, id, name AS "{label}", value AS "Giá trị"
FROM (
    SELECT DISTINCT ON (e.id) e.kind, e.id, e.name, l.value
    FROM ioc_views.series s
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
    CROSS JOIN LATERAL (SELECT x.ts, x.value FROM ioc_views.samples x WHERE x.series_id = s.id AND $__timeFilter(x.ts)
                        ORDER BY x.ts DESC LIMIT 1) l
    WHERE s.kind = '{kind}' AND s.metric = '{metric}' AND {ENTITY_FILTER}
    ORDER BY e.id, l.ts DESC
) latest
ORDER BY {order}, 3
"""


def status_counts(kind: str) -> str:
    """How many entities of a kind are in each status now."""
    return f"""
SELECT count(*) FILTER (WHERE e.status = 'ok') AS "Bình thường",
       count(*) FILTER (WHERE e.status = 'degraded') AS "Suy giảm",
       count(*) FILTER (WHERE e.status = 'down') AS "Ngừng hoạt động",
       count(*) FILTER (WHERE e.status = 'unreachable') AS "Mất kết nối",
       count(*) FILTER (WHERE e.status = 'maintenance') AS "Bảo trì",
       count(*) FILTER (WHERE e.status = 'unknown') AS "Chưa có dữ liệu"
FROM ioc_views.entities e
WHERE e.kind = '{kind}' AND e.assigned AND {ENTITY_FILTER}
"""


def entity_list(kind: str) -> str:
    """Every entity of a kind with its status now, worst first."""
    return f"""
SELECT e.kind, e.id, e.name AS "Tên", coalesce(e.site_name, e.site) AS "Địa điểm",
       coalesce(e.agency_name, e.agency) AS "Cơ quan", e.status AS "Trạng thái", e.last_seen AS "Lần cuối nhận dữ liệu"
FROM ioc_views.entities e
WHERE e.kind = '{kind}' AND e.assigned AND {ENTITY_FILTER}
ORDER BY CASE e.status WHEN 'down' THEN 0 WHEN 'unreachable' THEN 1 WHEN 'degraded' THEN 2 ELSE 3 END, e.name
"""
