"""The monthly SLA report (`ioc report sla --month 2026-11 [--agency ID] --format csv|html`): per entity its
uptime, downtime, unreachable and maintenance time and incidents over the local month; per agency its KPIs.

The HTML is one printable A4 document (autoescaped Jinja2 template); the CSV is one row per entity and
one row per agency (kind `agency`) with the KPI columns.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from jinja2 import Environment, PackageLoader, select_autoescape

from ioc.kpis import KPI_NAMES
from ioc.store.kpis import agency_kpis
from ioc.store.uptime import period_totals
from ioc.uptime import pct

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
COLUMNS = ("agency", "kind", "id", "name", "uptime_pct", "downtime_s", "unreachable_s", "maintenance_s",
           "incidents", *KPI_NAMES)  # fmt: skip
KIND_ORDER = {"service": 0, "link": 1, "kiosk": 2}


def month_bounds(month: str, timezone: str) -> tuple[date, float, float]:
    """`YYYY-MM` as its first day and the Unix seconds of its local start and end; ValueError naming it."""
    match = _MONTH_RE.match(month.strip())
    if not match:
        raise ValueError(f"--month: {month!r} is not a month such as 2026-11")
    year, mon = int(match.group(1)), int(match.group(2))
    zone = ZoneInfo(timezone)
    first = date(year, mon, 1)
    following = date(year + (mon == 12), mon % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=zone).timestamp()
    end = datetime(following.year, following.month, 1, tzinfo=zone).timestamp()
    return first, start, end


@dataclass(frozen=True, slots=True)
class SlaReport:
    month: str
    agency: str | None
    generated_at: float
    start: float
    end: float
    rows: list[dict[str, Any]]  # entities, then per agency its KPI row


def build(conn: psycopg.Connection, month: str, *, agency: str | None, timezone: str, now: float) -> SlaReport:
    _, start, end = month_bounds(month, timezone)
    if agency is not None and conn.execute("SELECT 1 FROM agencies WHERE id = %s", (agency,)).fetchone() is None:
        raise ValueError(f"--agency: unknown agency {agency}")
    until = min(end, now)
    entities = conn.execute(
        "SELECT kind, id, name, agency FROM entities WHERE assigned AND (%(a)s::text IS NULL OR agency = %(a)s)",
        {"a": agency},
    ).fetchall()
    entities.sort(key=lambda r: (r[3] or "", KIND_ORDER.get(r[0], 9), r[1]))
    refs = [f"{k}/{i}" for k, i, _, _ in entities]
    totals = period_totals(conn, refs, start, until) if until > start else {}
    incidents = dict(
        ((k, e), n)
        for k, e, n in conn.execute(
            "SELECT kind, entity, count(*) FROM alerts WHERE severity = 'critical' AND starts_at IS NOT NULL"
            " AND suppressed_by IS NULL AND starts_at >= %s AND starts_at < %s GROUP BY 1, 2",
            (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)),
        )
    )
    rows: list[dict[str, Any]] = []
    for kind, ident, name, owner in entities:
        t = totals.get(f"{kind}/{ident}")
        rows.append(
            {
                "agency": owner or "", "kind": kind, "id": ident, "name": name or ident,
                "uptime_pct": pct(t, 3) if t else None,
                "downtime_s": round(t["down_s"]) if t else 0,
                "unreachable_s": round(t["unreachable_s"]) if t else 0,
                "maintenance_s": round(t["maintenance_s"]) if t else 0,
                "incidents": incidents.get((kind, ident), 0),
            }
        )  # fmt: skip
    agencies = conn.execute(
        "SELECT id, name FROM agencies WHERE %(a)s::text IS NULL OR id = %(a)s ORDER BY id", {"a": agency}
    ).fetchall()
    for ident, name in agencies:
        kpis = agency_kpis(conn, ident, start, until, until - start).kpis if until > start else {}
        rows.append({"agency": ident, "kind": "agency", "id": ident, "name": name, **kpis})
    return SlaReport(month, agency, now, start, end, rows)


def to_csv(report: SlaReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k, "")) for k in COLUMNS})
    return out.getvalue()


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("ioc.reports", "templates"), autoescape=select_autoescape(["html"]))


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def to_html(report: SlaReport, timezone: str, names: dict[str, str]) -> str:
    zone = ZoneInfo(timezone)
    entities = [r for r in report.rows if r["kind"] != "agency"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in entities:
        groups.setdefault(row["agency"], []).append(
            {**row, "uptime": "–" if row["uptime_pct"] is None else f"{row['uptime_pct']:.3f}".replace(".", ","),
             "down": _hm(row["downtime_s"]), "unreachable": _hm(row["unreachable_s"]),
             "maintenance": _hm(row["maintenance_s"])}
        )  # fmt: skip
    kpis = {r["id"]: r for r in report.rows if r["kind"] == "agency"}

    def fmt(value: float | None, unit: str = "") -> str:
        return "–" if value is None else f"{value:g}".replace(".", ",") + unit

    agencies = [
        {
            "id": a,
            "name": names.get(a, a) if a else "Chưa gán đơn vị",
            "entities": groups.get(a, []),
            "kpis": [
                ("Hồ sơ tiếp nhận", fmt(kpis[a].get("dossiers_received"))),
                ("Tỷ lệ hồ sơ trực tuyến", fmt(kpis[a].get("online_share_pct"), " %")),
                ("Tỷ lệ giải quyết đúng hạn", fmt(kpis[a].get("ontime_share_pct"), " %")),
                ("Hồ sơ quá hạn (cuối kỳ)", fmt(kpis[a].get("dossiers_overdue"))),
                ("Tỷ lệ thanh toán trực tuyến", fmt(kpis[a].get("online_payment_share_pct"), " %")),
                ("Mức độ hài lòng", fmt(kpis[a].get("satisfaction_pct"), " %")),
            ]
            if a in kpis
            else [],
        }
        for a in sorted(set(groups) | set(kpis))
    ]
    return (
        _templates()
        .get_template("sla.html")
        .render(
            month=f"{report.month[5:7]}/{report.month[:4]}",  # as Vietnamese documents write it: 11/2026
            start=datetime.fromtimestamp(report.start, zone).strftime("%d/%m/%Y"),
            end=datetime.fromtimestamp(min(report.end - 1, report.generated_at), zone).strftime("%d/%m/%Y"),
            in_progress=report.generated_at < report.end,
            generated=datetime.fromtimestamp(report.generated_at, zone).strftime("%H:%M %d/%m/%Y"),
            agencies=agencies,
        )
    )
