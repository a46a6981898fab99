"""How the public status pages read (contract section 9): their texts in Vietnamese and English, the
formatting of figures and times, the Jinja2 templates in `templates/` (autoescaped), and the HTML page of
the province or of one agency rendered from its status document. The routes are `ioc.api.status_page`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from jinja2 import Environment, PackageLoader, select_autoescape

from ioc.api.status_document import PublicAgency, private_agencies, public_agencies, response_sparklines
from ioc.model import KINDS, STATUSES
from ioc.store.queries import entity_statuses

REFRESH_S = 60
LANGUAGES = (("vi", "Tiếng Việt"), ("en", "English"))

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Tình trạng hệ thống dịch vụ",
        "heading": "Tình trạng các hệ thống dịch vụ công",
        "updated": "Cập nhật lúc",
        "back": "← Toàn tỉnh",
        "feed": "Sự cố và bảo trì (Atom)",
        "none": "Chưa có hệ thống nào được khai báo.",
        "all_ok": "Tất cả hệ thống hoạt động bình thường",
        "one_bad": "1 hệ thống đang gặp sự cố",
        "some_bad": "{n} hệ thống đang gặp sự cố",
        "services_heading": "Hệ thống dịch vụ",
        "maintenance_heading": "Bảo trì đang diễn ra và sắp tới",
        "incidents_heading": "Sự cố trong 90 ngày qua",
        "agencies_heading": "Trang của từng đơn vị",
        "no_incidents": "Không có sự cố nào trong 90 ngày qua.",
        "summary": "Thiết bị và đường truyền",
        "kiosk": "Kiosk",
        "link": "Đường truyền",
        "now": "đang diễn ra",
        "duration": "kéo dài",
        "ongoing": "chưa khắc phục",
        "days_short": "ngày",
        "days_ago": "90 ngày trước",
        "today": "Hôm nay",
        "bars_label": "Mức sẵn sàng theo ngày, 90 ngày qua",
        "response": "Thời gian phản hồi 24 giờ",
        "maintenance_day": "bảo trì",
        "no_data": "chưa có dữ liệu",
        "down_min": "ngừng",
        "maint_min": "bảo trì",
        "minutes": "phút",
        "hours": "giờ",
        "uptime": "sẵn sàng",
        "ok": "Hoạt động bình thường",
        "degraded": "Suy giảm",
        "down": "Ngừng hoạt động",
        "unreachable": "Mất kết nối",
        "maintenance": "Đang bảo trì",
        "unknown": "Chưa có dữ liệu",
    },
    "en": {
        "title": "Service status",
        "heading": "Status of public service systems",
        "updated": "Updated at",
        "back": "← Whole province",
        "feed": "Incidents and maintenance (Atom)",
        "none": "No service systems are declared yet.",
        "all_ok": "All systems operational",
        "one_bad": "1 system has a problem",
        "some_bad": "{n} systems have a problem",
        "services_heading": "Service systems",
        "maintenance_heading": "Maintenance now and coming",
        "incidents_heading": "Incidents in the last 90 days",
        "agencies_heading": "Each agency's page",
        "no_incidents": "No incidents in the last 90 days.",
        "summary": "Devices and links",
        "kiosk": "Kiosks",
        "link": "Links",
        "now": "in progress",
        "duration": "lasted",
        "ongoing": "not yet resolved",
        "days_short": "days",
        "days_ago": "90 days ago",
        "today": "Today",
        "bars_label": "Availability per day, last 90 days",
        "response": "Response time, 24 h",
        "maintenance_day": "maintenance",
        "no_data": "no data",
        "down_min": "down",
        "maint_min": "maintenance",
        "minutes": "min",
        "hours": "h",
        "uptime": "uptime",
        "ok": "Operational",
        "degraded": "Degraded",
        "down": "Down",
        "unreachable": "Unreachable",
        "maintenance": "Under maintenance",
        "unknown": "No data",
    },
}

TROUBLED = frozenset({"down", "degraded", "unreachable"})


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("ioc.api", "templates"),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        trim_blocks=False,
        lstrip_blocks=False,
    )


# --- formatting ----------------------------------------------------------------------------------


def fmt_pct(value: float | None, lang: str, digits: int = 2) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") + " %" if lang == "vi" else text + "%"


def fmt_duration(seconds: float, lang: str) -> str:
    t = TEXTS[lang]
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} {t['hours']} {minutes} {t['minutes']}" if minutes else f"{hours} {t['hours']}"
    return f"{minutes} {t['minutes']}"


def fmt_local(ts: str | None, zone: ZoneInfo) -> str:
    if ts is None:
        return ""
    return datetime.fromisoformat(ts).astimezone(zone).strftime("%H:%M %d/%m/%Y")


def day_class(day: dict[str, Any]) -> str:
    value = day["uptime_pct"]
    if value is None:
        return "u-maint" if day["maintenance_s"] else "u-none"
    for limit, cls in ((99.9, "u-good"), (99.0, "u-fair"), (95.0, "u-poor")):
        if value >= limit:
            return cls
    return "u-bad"


def sparkline(values: list[float | None]) -> dict[str, str] | None:
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    lo, hi = min(v for _, v in known), max(v for _, v in known)
    span = (hi - lo) or 1.0
    step = 240 / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{26 - (v - lo) / span * 24:.1f}" for i, v in known)
    return {"points": points, "last": f"{known[-1][1]:.0f} ms"}


# --- the page ------------------------------------------------------------------------------------


def render_page(
    conn: psycopg.Connection,
    doc: dict[str, Any],
    *,
    lang: str,
    timezone: str,
    now: float,
    agency: PublicAgency | None,
    base: str,
) -> str:
    t = TEXTS[lang]
    zone = ZoneInfo(timezone)
    agencies = public_agencies(conn)
    names = {s["id"]: s["name"] for s in doc["services"]}
    sparks = response_sparklines(conn, list(names), now)
    service_agency = {e.row.id: e.row.agency for e in entity_statuses(conn, now) if e.row.kind == "service"}
    services = []
    for s in doc["services"]:
        days = []
        for d in s["days"]:
            tip = f"{d['date']}: {t['uptime']} {fmt_pct(d['uptime_pct'], lang)}"
            tip += f", {t['down_min']} {round(d['down_s'] / 60)} {t['minutes']}"
            tip += f", {t['maint_min']} {round(d['maintenance_s'] / 60)} {t['minutes']}"
            days.append({"cls": day_class(d), "tip": tip})
        owner = agencies.get(service_agency.get(s["id"]) or "")
        services.append(
            {
                "id": s["id"],
                "name": s["name"],
                "status": s["status"],
                "agency_name": owner.name if owner and agency is None else None,
                "fig": {p: fmt_pct(s["uptime_pct"][p], lang) for p in ("24h", "30d", "90d")},
                "days": days,
                "spark": sparkline(sparks[s["id"]]) if s["id"] in sparks else None,
            }
        )
    services.sort(key=lambda s: s["status"] not in TROUBLED)  # problems first, then as listed
    maintenance = [
        {
            "when": f"{fmt_local(m['starts_at'], zone)} – {fmt_local(m['ends_at'], zone)}",
            "names": ", ".join(names.get(i, i) for i in m["services"]),
            "comment": m["comment"],
            "active": datetime.fromisoformat(m["starts_at"]).timestamp() <= now,
        }
        for m in doc["maintenance"]
    ]
    incidents = [
        {
            "title": i["title"],
            "when": fmt_local(i["started_at"], zone),
            "duration": fmt_duration(i["duration_s"], lang),
            "open": i["ended_at"] is None,
        }
        for i in doc["incidents"]
    ]
    summary = []
    if agency is None:
        hidden = private_agencies(conn)
        counts: dict[str, Counter[str]] = {k: Counter() for k in KINDS if k != "service"}
        for e in entity_statuses(conn, now):
            if e.row.assigned and e.row.kind in counts and e.row.agency not in hidden:
                counts[e.row.kind][e.status] += 1
        summary = [(t[k], [(st, c[st]) for st in STATUSES if c[st]]) for k, c in counts.items() if c]
    troubled = sum(1 for s in doc["services"] if s["status"] in TROUBLED)
    heading = agency.name if agency else t["heading"]
    return (
        templates()
        .get_template("status.html")
        .render(
            lang=lang,
            t=t,
            title=f"{heading} – {t['title']}" if agency else t["title"],
            heading=heading,
            refresh_s=REFRESH_S,
            updated_local=fmt_local(doc["updated_at"], zone),
            languages=LANGUAGES,
            services=services,
            troubled=troubled,
            legend=[fmt_pct(v, lang, 1).replace(",0 ", " ").replace(".0%", "%") for v in (99.9, 99.0, 95.0)],
            maintenance=maintenance,
            incidents=incidents,
            summary=summary,
            agencies=[]
            if agency
            else [{"name": a.name, "url": f"{base}/status/{a.id}?lang={lang}"} for a in agencies.values()],
            parent_url=f"{base}/status?lang={lang}" if agency else None,
            feed_url=f"{base}/status/{agency.id}/feed.atom" if agency else None,
        )
    )
