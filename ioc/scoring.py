"""Alert quality against a scenario's ground truth: recall, precision, pages per incident, detection delay.

A page is an alert that fired (`starts_at` set) and was not suppressed as a symptom of a root cause
(`suppressed_by` empty). A page matches an incident when it names one of the incident's affected
entities and starts between the incident's start and its end plus a grace period (alerts that need a
`for` duration, or resolve late, still count). An incident is detected when at least one page matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg
import yaml

DEFAULT_GRACE = timedelta(minutes=5)


class TruthError(ValueError):
    pass


@dataclass(frozen=True)
class TruthIncident:
    id: str
    type: str
    root: str
    start: datetime
    end: datetime
    affected: frozenset[str]


@dataclass(frozen=True)
class Truth:
    scenario: str
    start: datetime
    end: datetime
    incidents: tuple[TruthIncident, ...]


@dataclass(frozen=True)
class Page:
    id: int
    rule: str
    ref: str  # kind/id
    starts_at: datetime


@dataclass
class Score:
    incidents: int
    detected: int
    pages: int
    matched_pages: int
    delays_s: list[float]
    per_incident: list[dict[str, Any]] = field(default_factory=list)
    false_pages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def precision(self) -> float | None:
        return self.matched_pages / self.pages if self.pages else None

    @property
    def pages_per_incident(self) -> float | None:
        return self.matched_pages / self.detected if self.detected else None

    @property
    def delay_p50_s(self) -> float | None:
        return float(np.percentile(self.delays_s, 50)) if self.delays_s else None

    @property
    def delay_max_s(self) -> float | None:
        return max(self.delays_s) if self.delays_s else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "detected": self.detected,
            "pages": self.pages,
            "matched_pages": self.matched_pages,
            "recall": self.recall,
            "precision": self.precision,
            "pages_per_incident": self.pages_per_incident,
            "detection_delay_s": {"p50": self.delay_p50_s, "max": self.delay_max_s},
            "per_incident": self.per_incident,
            "false_pages": self.false_pages,
        }


def _time(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise TruthError(f"{where}: {value!r} is not an ISO 8601 time") from None
    else:
        raise TruthError(f"{where}: must be an ISO 8601 time")
    if parsed.tzinfo is None:
        raise TruthError(f"{where}: {value!r} has no UTC offset")
    return parsed


def parse_truth(doc: object, source: str = "<truth>") -> Truth:
    if not isinstance(doc, dict) or not isinstance(doc.get("incidents"), list):
        raise TruthError(f"{source}: not a ground-truth file (needs start, end and incidents)")
    incidents = []
    for i, entry in enumerate(doc["incidents"]):
        where = f"{source}: incidents[{i}]"
        if not isinstance(entry, dict):
            raise TruthError(f"{where}: must be a mapping")
        affected = entry.get("affected")
        if not isinstance(affected, list) or not all(isinstance(a, str) for a in affected):
            raise TruthError(f"{where}.affected: must be a list of kind/id references")
        incidents.append(
            TruthIncident(
                str(entry.get("id", i + 1)),
                str(entry.get("type", "")),
                str(entry.get("root", "")),
                _time(entry.get("start"), f"{where}.start"),
                _time(entry.get("end"), f"{where}.end"),
                frozenset(affected),
            )
        )
    return Truth(
        str(doc.get("scenario", "")),
        _time(doc.get("start"), f"{source}: start"),
        _time(doc.get("end"), f"{source}: end"),
        tuple(incidents),
    )


def read_truth(path: Path) -> Truth:
    try:
        data = path.read_bytes()
        doc = yaml.safe_load(data) if path.suffix in (".yaml", ".yml") else orjson.loads(data)
    except (OSError, orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise TruthError(f"{path}: cannot read: {exc}") from None
    return parse_truth(doc, str(path))


def load_pages(conn: psycopg.Connection, since: datetime, until: datetime) -> list[Page]:
    """Alerts that paged someone between `since` and `until`."""
    rows = conn.execute(
        """
        SELECT id, rule, kind, entity, starts_at FROM alerts
        WHERE starts_at IS NOT NULL AND suppressed_by IS NULL AND starts_at >= %s AND starts_at < %s
          AND kind IS NOT NULL AND entity IS NOT NULL
        ORDER BY starts_at, id
        """,
        (since, until),
    ).fetchall()
    return [Page(r[0], r[1], f"{r[2]}/{r[3]}", r[4]) for r in rows]


def score(truth: Truth, pages: list[Page], grace: timedelta = DEFAULT_GRACE) -> Score:
    matched: set[int] = set()
    delays: list[float] = []
    per_incident = []
    for incident in truth.incidents:
        hits = [
            p for p in pages if p.ref in incident.affected and incident.start <= p.starts_at <= incident.end + grace
        ]
        matched |= {p.id for p in hits}
        delay = (min(p.starts_at for p in hits) - incident.start).total_seconds() if hits else None
        if delay is not None:
            delays.append(delay)
        per_incident.append(
            {"id": incident.id, "type": incident.type, "root": incident.root, "pages": len(hits),
             "delay_s": delay, "rules": sorted({p.rule for p in hits})}
        )  # fmt: skip
    false_pages = [
        {"id": p.id, "rule": p.rule, "entity": p.ref, "starts_at": p.starts_at.isoformat()}
        for p in pages
        if p.id not in matched
    ]
    return Score(
        incidents=len(truth.incidents),
        detected=sum(1 for i in per_incident if i["pages"]),
        pages=len(pages),
        matched_pages=len(matched),
        delays_s=delays,
        per_incident=per_incident,
        false_pages=false_pages,
    )


def score_store(
    conn: psycopg.Connection,
    truth: Truth,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> Score:
    """Score the alerts stored for the run the truth describes (its window plus the grace period)."""
    pages = load_pages(conn, since or truth.start, until or truth.end + grace)
    return score(truth, pages, grace)


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def render(result: Score, truth: Truth) -> str:
    lines = [
        f"scenario: {truth.scenario}",
        f"incidents: {result.incidents}, detected: {result.detected}, pages: {result.pages}",
        f"recall: {_fmt(result.recall, '{:.2f}')}",
        f"precision: {_fmt(result.precision, '{:.2f}')}",
        f"pages per incident: {_fmt(result.pages_per_incident, '{:.2f}')}",
        f"detection delay: p50 {_fmt(result.delay_p50_s, '{:.0f} s')}, max {_fmt(result.delay_max_s, '{:.0f} s')}",
    ]
    for inc in result.per_incident:
        delay = "missed" if inc["delay_s"] is None else f"{inc['delay_s']:.0f} s"
        lines.append(f"  {inc['id']} ({inc['type']} {inc['root']}): {inc['pages']} page(s), {delay}")
    for page in result.false_pages:
        lines.append(f"  false page #{page['id']}: {page['rule']} on {page['entity']} at {page['starts_at']}")
    return "\n".join(lines)
