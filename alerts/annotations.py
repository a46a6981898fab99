"""What an alert says: its labels, and its summary, description and annotations, from its rule and the
inventory."""

from __future__ import annotations

from alerts.alert import Alert, alert_labels
from alerts.rule_types import PercentileRule, RateRule, Rule, ThresholdRule, for_s
from alerts.suppression import FLAPPING_AFTER
from alerts.texts import render
from alerts.topology import Topology
from ioc.inventory import Entity, Inventory


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Annotator:
    """Labels and texts in the engine's language, with the names the inventory gives."""

    def __init__(
        self, inventory: Inventory, entities: dict[tuple[str, str], Entity], topology: Topology, language: str
    ) -> None:
        self._entities, self.topology, self.language = entities, topology, language
        self._sites = {s.id: s.name for s in inventory.sites}
        self._agencies = {a.id: a.name for a in inventory.agencies}

    def labels(self, rule: Rule, kind: str, entity_id: str, series_labels: dict[str, str] | None) -> dict[str, str]:
        entity = self._entities.get((kind, entity_id))
        return alert_labels(
            rule=rule.name,
            severity=rule.severity,
            kind=kind,
            entity=entity_id,
            site=entity.site if entity else None,
            agency=entity.agency if entity else None,
            series_labels=series_labels,
            rule_labels=rule.labels,
        )

    def annotate(self, alert: Alert, rule: Rule, reason: str | None) -> None:
        entity = self._entities.get((alert.kind, alert.entity))
        fields: dict[str, object] = {
            "name": entity.name if entity else alert.entity,
            "entity": alert.entity,
            "kind": alert.kind,
            "site": alert.site or "",
            "site_name": self._sites.get(alert.site or "", alert.site or ""),
            "agency": alert.agency or "",
            "agency_name": self._agencies.get(alert.agency or "", alert.agency or ""),
            "metric": rule.metric or "",
            "value": alert.value,
            "threshold": rule.threshold if isinstance(rule, ThresholdRule | PercentileRule | RateRule) else 0.0,
            "rule": rule.name,
            "window": format_duration(rule.window_s if isinstance(rule, PercentileRule | RateRule) else 0.0),
            "for": format_duration(for_s(rule)),
        }
        alert.summary = render(rule.summary, self.language, fields)
        annotations = {"summary": alert.summary, "entity_name": str(fields["name"])}
        if rule.description:
            annotations["description"] = render(rule.description, self.language, fields)
        if fields["site_name"]:
            annotations["site_name"] = str(fields["site_name"])
        if alert.value is not None:
            annotations["value"] = f"{alert.value:g}"
        if alert.flaps:
            annotations["flaps"] = str(alert.flaps)
            if alert.flaps >= FLAPPING_AFTER:
                annotations["flapping"] = "true"
        if reason:
            annotations["reason"] = reason
        if rule.down:
            behind = self.topology.descendants(alert.ref)
            if behind:
                names = []
                for ref in behind:
                    kind, _, entity_id = ref.partition("/")
                    dependent = self._entities.get((kind, entity_id))
                    names.append(f"{dependent.name} ({ref})" if dependent else ref)
                annotations["unreachable"] = "; ".join(names)
                annotations["unreachable_count"] = str(len(behind))
        alert.annotations = annotations
