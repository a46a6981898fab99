"""The default rule `kpi_below_target` (contract section 9): an agency whose KPI over the last 24 hours is
below its target (`IOC_KPI_TARGETS`; for `dossiers_overdue` the target is a ceiling) has a warning.

The engine's rules watch one entity's series; a KPI is a ratio of counter increases summed over an
agency's services and kiosks, so this is a small check of its own, run every few minutes by the alert
service (which saves and routes its alerts like the engine's). Its alerts carry `kind="agency"`,
`entity` the agency's id, and the label `kpi`.

A KPI is judged only when its figure means something: a share over at least `IOC_KPI_MIN_COUNT` dossiers
or votes in the window (a handful of votes after opening, or after a fresh start, says nothing of the
day), and `dossiers_received` only once the store's counters cover the whole window. While a KPI cannot
be judged its alert keeps its state: a breach stays open over a night or a weekend without votes, and
resolves when the KPI is measured again and meets its target.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from alerts.alert import FIRING, RESOLVED, Alert, alert_labels, fingerprint
from ioc.kpis import SHARES

RULE = "kpi_below_target"
SEVERITY = "warning"
WINDOW_S = 86400.0
CHECK_INTERVAL_S = 300.0
DEFAULT_MIN_COUNT = 100
CEILINGS = frozenset({"dossiers_overdue"})  # KPIs whose target is a maximum
WHOLE_WINDOW = frozenset({"dossiers_received"})  # counts, judged only over a window the store covers

SUMMARIES = {
    "vi": "{agency}: {kpi} 24 giờ qua là {value:g}, chưa đạt mục tiêu {target:g}",
    "en": "{agency}: {kpi} over the last 24 hours is {value:g}, short of the target {target:g}",
}

Key = tuple[str, str]  # (agency, kpi)


def judged(
    kpis_by_agency: Mapping[str, Mapping[str, float | None]],
    targets: Mapping[str, float],
    *,
    bases: Mapping[str, Mapping[str, float]] | None = None,
    min_count: float = 0,
    partial: Collection[str] = (),
) -> dict[Key, tuple[float, float]]:
    """(agency, kpi) -> (value, target) for every KPI with a target that can be judged: it has a value, a share
    is over at least `min_count` (its denominator in `bases`), a count's window is covered (its agency not in
    `partial`)."""
    out = {}
    for agency, kpis in kpis_by_agency.items():
        counts = (bases or {}).get(agency, {})
        for kpi, target in targets.items():
            value = kpis.get(kpi)
            if value is None:
                continue
            if kpi in SHARES and bases is not None and counts.get(kpi, 0.0) < min_count:
                continue
            if kpi in WHOLE_WINDOW and agency in partial:
                continue
            out[(agency, kpi)] = (float(value), float(target))
    return out


def misses(kpi: str, value: float, target: float) -> bool:
    return (value > target) if kpi in CEILINGS else (value < target)


def breaches(
    kpis_by_agency: Mapping[str, Mapping[str, float | None]],
    targets: Mapping[str, float],
    *,
    bases: Mapping[str, Mapping[str, float]] | None = None,
    min_count: float = 0,
    partial: Collection[str] = (),
) -> dict[Key, tuple[float, float]]:
    """(agency, kpi) -> (value, target) for every judged KPI that misses its target (see `judged`)."""
    readings = judged(kpis_by_agency, targets, bases=bases, min_count=min_count, partial=partial)
    return {key: vt for key, vt in readings.items() if misses(key[1], *vt)}


class KpiCheck:
    """Fires and resolves `kpi_below_target` alerts from the KPIs it is given (no I/O; time passed in)."""

    def __init__(
        self,
        targets: Mapping[str, float],
        *,
        language: str = "vi",
        interval_s: float = CHECK_INTERVAL_S,
        min_count: float = DEFAULT_MIN_COUNT,
    ):
        self.targets = dict(targets)
        self.language = language
        self.interval_s = interval_s
        self.min_count = min_count
        self.alerts: dict[str, Alert] = {}
        self.next_at = 0.0

    def restore(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            if alert.rule == RULE and alert.open:
                self.alerts[alert.fingerprint] = alert

    def due(self, now: float) -> bool:
        return bool(self.targets) and now >= self.next_at

    def evaluate(
        self,
        kpis_by_agency: Mapping[str, Mapping[str, float | None]],
        names: Mapping[str, str],
        now: float,
        *,
        bases: Mapping[str, Mapping[str, float]] | None = None,
        partial: Collection[str] = (),
    ) -> list[Alert]:
        """The alerts that changed: new breaches fire at once (the 24 h window is the hold), KPIs measured at
        target resolve theirs, KPIs that cannot be judged (see `judged`) leave theirs as they are.
        `bases`: agency -> share KPI -> the dossiers or votes it is over (without it, no minimum)."""
        self.next_at = now + self.interval_s
        changed = []
        readings = judged(kpis_by_agency, self.targets, bases=bases, min_count=self.min_count, partial=partial)
        for (agency, kpi), (value, target) in readings.items():
            if not misses(kpi, value, target):
                continue
            labels = alert_labels(rule=RULE, severity=SEVERITY, kind="agency", entity=agency, site=None,
                                  agency=agency, rule_labels={"kpi": kpi})  # fmt: skip
            fp = fingerprint(labels)
            summary = SUMMARIES[self.language].format(agency=names.get(agency, agency), kpi=kpi, value=value,
                                                      target=target)  # fmt: skip
            alert = self.alerts.get(fp)
            if alert is None:
                alert = Alert(fp, RULE, SEVERITY, "agency", agency, labels, state=FIRING, agency=agency,
                              pending_since=now, starts_at=now)  # fmt: skip
                self.alerts[fp] = alert
            elif alert.value == value and alert.summary == summary:
                continue
            alert.value, alert.summary = value, summary
            alert.annotations = {"summary": summary, "target": f"{target:g}", "window": "24h"}
            if kpi in SHARES and bases is not None:
                alert.annotations["count"] = f"{bases.get(agency, {}).get(kpi, 0.0):g}"
            changed.append(alert)
        for fp, alert in list(self.alerts.items()):
            key = (alert.labels.get("agency", alert.entity), alert.labels.get("kpi", ""))
            reading = readings.get(key)
            gone = key[0] not in kpis_by_agency or key[1] not in self.targets
            if gone or (reading is not None and not misses(key[1], *reading)):
                del self.alerts[fp]
                alert.state, alert.ends_at = RESOLVED, now
                changed.append(alert)
        return changed
