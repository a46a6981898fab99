"""SQL fragments over `ioc_views` that several dashboards share, filtered by the `site` and `agency` variables."""

from __future__ import annotations

from dashboards.common import site_and_agency

# Minutes up to 6 hours, hours beyond: the rollup the range needs (the function `ioc_views.rollup`).
ROLLUP = "ioc_views.rollup($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
ENTITY_FILTER = site_and_agency("e.site", "e.agency")


def metric_over_time(kind: str, metric: str, *, value: str = "sum(x.total) / sum(x.cnt)") -> str:
    """A time series per entity of one metric, from the rollups."""
    return f"""
SELECT $__timeGroupAlias(x.bucket, $__interval), e.name AS metric, {value} AS value
FROM ioc_views.series s
JOIN {ROLLUP} x ON x.series_id = s.id
JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
WHERE s.kind = '{kind}' AND s.metric = '{metric}' AND {ENTITY_FILTER}
GROUP BY 1, 2
ORDER BY 1, 2
"""


def per_site(kind: str, metric: str, *, value: str = "sum(x.total) / sum(x.cnt)") -> str:
    """A time series per site of one metric: the mean per entity in each bucket, summed over the site's."""
    return f"""
SELECT "time", metric, sum(value) AS value
FROM (
    SELECT $__timeGroupAlias(x.bucket, $__interval), coalesce(si.name, e.site, '(chưa gán)') AS metric,
           {value} AS value
    FROM ioc_views.series s
    JOIN {ROLLUP} x ON x.series_id = s.id
    JOIN ioc_views.entity_facts e ON e.kind = s.kind AND e.id = s.entity
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
