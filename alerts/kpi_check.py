"""The default rule `kpi_below_target` (contract section 9): an agency whose KPI over the last 24 hours is
below its target (`IOC_KPI_TARGETS`; for `dossiers_overdue` the target is a ceiling) has a warning.

The engine's rules watch one entity's series; a KPI is a ratio of counter increases summed over an
agency's services and kiosks, so this is a small check of its own, run every few minutes by the alert
service (which saves and routes its alerts like the engine's). Its alerts carry `kind="agency"`,
`entity` the agency's id, and the label `kpi`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerts.alert import FIRING, RESOLVED, Alert, alert_labels, fingerprint

RULE = "kpi_below_target"
SEVERITY = "warning"
WINDOW_S = 86400.0
CHECK_INTERVAL_S = 300.0
CEILINGS = frozenset({"dossiers_overdue"})  # KPIs whose target is a maximum

SUMMARIES = {
    "vi": "{agency}: {kpi} 24 giờ qua là {value:g}, chưa đạt mục tiêu {target:g}",
    "en": "{agency}: {kpi} over the last 24 hours is {value:g}, short of the target {target:g}",
}


def breaches(
    kpis_by_agency: Mapping[str, Mapping[str, float | None]], targets: Mapping[str, float]
) -> dict[tuple[str, str], tuple[float, float]]:
    """(agency, kpi) -> (value, target) for every KPI that misses its target; a KPI without data misses nothing."""
    out = {}
    for agency, kpis in kpis_by_agency.items():
        for kpi, target in targets.items():
            value = kpis.get(kpi)
            if value is None:
                continue
            if (value > target) if kpi in CEILINGS else (value < target):
                out[(agency, kpi)] = (float(value), float(target))
    return out


class KpiCheck:
    """Fires and resolves `kpi_below_target` alerts from the KPIs it is given (no I/O; time passed in)."""

    def __init__(self, targets: Mapping[str, float], *, language: str = "vi", interval_s: float = CHECK_INTERVAL_S):
        self.targets = dict(targets)
        self.language = language
        self.interval_s = interval_s
        self.alerts: dict[str, Alert] = {}
        self.next_at = 0.0

    def restore(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            if alert.rule == RULE and alert.open:
                self.alerts[alert.fingerprint] = alert

    def due(self, now: float) -> bool:
        return bool(self.targets) and now >= self.next_at

    def evaluate(
        self, kpis_by_agency: Mapping[str, Mapping[str, float | None]], names: Mapping[str, str], now: float
    ) -> list[Alert]:
        """The alerts that changed: new breaches fire at once (the 24 h window is the hold), healed ones resolve."""
        self.next_at = now + self.interval_s
        changed = []
        missing = breaches(kpis_by_agency, self.targets)
        wanted: dict[str, tuple[str, str, float, float]] = {}
        for (agency, kpi), (value, target) in missing.items():
            labels = alert_labels(rule=RULE, severity=SEVERITY, kind="agency", entity=agency, site=None,
                                  agency=agency, rule_labels={"kpi": kpi})  # fmt: skip
            wanted[fingerprint(labels)] = (agency, kpi, value, target)
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
            changed.append(alert)
        for fp in [fp for fp in self.alerts if fp not in wanted]:
            alert = self.alerts.pop(fp)
            alert.state, alert.ends_at = RESOLVED, now
            changed.append(alert)
        return changed
