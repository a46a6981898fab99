"""The streaming evaluator: new samples, statuses and ticks in, alert state changes out.

Single-threaded and free of I/O: the service feeds it committed batches and the clock's ticks, and
persists and dispatches the alerts it returns. The detectors it calls are pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date

import numpy as np

from alerts.alert import FIRING, PENDING, RESOLVED, Alert, fingerprint
from alerts.annotations import Annotator
from alerts.detectors.heartbeat import heartbeat_s
from alerts.detectors.threshold import INACTIVE, Condition, due
from alerts.evaluation import (
    AnomalyJudge,
    BaselineSource,
    Grouped,
    Pair,
    Pairs,
    SeriesTable,
    group,
)
from alerts.evaluation.judge import SeriesJudge
from alerts.liveness import Liveness
from alerts.open_alerts import OpenAlerts
from alerts.rule_types import DownRule, Rule, WindowRule, for_s
from alerts.suppression import FLAPPING_AFTER, FLAPPING_HOLD_FACTOR, Suppression, keep_firing_s
from alerts.topology import Topology
from ioc.inventory import Entity, Inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

__all__ = ["FLAPPING_AFTER", "FLAPPING_HOLD_FACTOR", "BaselineSource", "Engine"]


def _no_baseline(series_id: int, starts: list[float]) -> np.ndarray:
    return np.empty(0)


class Engine:
    """The facade: matches rules to series and entities, judges them per rule type (`evaluation`),
    liveness (`liveness`), applies the conditions to alerts, and leaves symptoms and holds to
    `suppression`, texts and labels to `annotations`."""

    def __init__(
        self,
        rules: list[Rule],
        inventory: Inventory,
        *,
        start: float,
        language: str = "vi",
        timezone: str = "Asia/Ho_Chi_Minh",
        baseline: BaselineSource = _no_baseline,
        is_holiday: Callable[[date], bool] = lambda d: False,
        topology_hold_s: float = 0.0,
        reconnect_grace_s: float = float("inf"),
    ):
        self.rules = rules
        self.language = language
        self.timezone = timezone
        self.baseline = baseline
        self.is_holiday = is_holiday
        self.start = start
        self._open = OpenAlerts()
        self.alerts = self._open.alerts  # open alerts by fingerprint
        self._down = self._open.down  # entity ref -> fingerprints of its firing `down` alerts
        self._judge = SeriesJudge(AnomalyJudge(baseline, timezone, is_holiday))  # per rule type
        self._series = SeriesTable()  # per series: its rules' pairs, the newest sample judged
        self._series_rule_index: dict[str, list[Rule]] = {}
        self._down_rules = [r for r in rules if isinstance(r, DownRule)]
        self._liveness = Liveness(self._down_rules, start)
        self._seen = self._liveness.seen
        self._suppression = Suppression(
            self._open,
            self._rule,
            self._liveness.vouches,
            topology_hold_s=topology_hold_s,
            reconnect_grace_s=reconnect_grace_s,
        )
        for rule in rules:
            if not isinstance(rule, DownRule):
                self._series_rule_index.setdefault(rule.metric, []).append(rule)
        self.set_inventory(inventory)

    # -- inventory -------------------------------------------------------------------------------

    def set_inventory(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._entities = {(e.kind, e.id): e for e in inventory.entities}
        self.topology = self._suppression.topology = Topology((e.ref, e.depends_on) for e in inventory.entities)
        self._annotator = Annotator(inventory, self._entities, self.topology, self.language)
        self._pairs = Pairs()  # labels and heartbeats come from the inventory: match everything again
        self._judge.forget()
        self._series.unmatch()
        self._liveness.set_inventory(self._entities)

    def entity(self, kind: str, entity_id: str) -> Entity | None:
        return self._entities.get((kind, entity_id))

    def _matches(self, rule: Rule, kind: str, entity_id: str) -> bool:
        if rule.kind is not None and rule.kind != kind:
            return False
        if not rule.match:
            return True
        entity = self._entities.get((kind, entity_id))
        for key, wanted in rule.match.items():
            value = entity_id if key == "id" else getattr(entity, key, None) if entity else None
            if value not in wanted:
                return False
        return True

    def _labels(self, rule: Rule, kind: str, entity_id: str, series_labels: dict[str, str] | None) -> dict[str, str]:
        return self._annotator.labels(rule, kind, entity_id, series_labels)

    def _match_series(self, series_id: int, key: SeriesKey) -> int:
        """The series' slot, its rules matched to the inventory (once, until the inventory changes)."""
        slot = self._series.slot(series_id)
        if not self._series.matched[slot]:
            indices = []
            for rank, rule in enumerate(
                r for r in self._series_rule_index.get(key.metric, ()) if self._matches(r, key.kind, key.entity)
            ):
                labels = self._labels(rule, key.kind, key.entity, key.labels_dict)
                pair = Pair(rule, fingerprint(labels), labels, key.kind, key.entity, series_id, rank)
                indices.append(index := self._pairs.add(pair, is_open=pair.fingerprint in self.alerts))
                if isinstance(rule, WindowRule):
                    self._judge.windows.setup(index, rule)
            self._series.set_pairs(slot, self._pairs, indices)
        return slot

    def _match_entity(self, slot: int) -> None:
        kind, entity_id = self._seen.keys[slot]
        entity = self._entities.get((kind, entity_id))
        for column, rule in enumerate(self._down_rules):
            if self._matches(rule, kind, entity_id):
                labels = self._labels(rule, kind, entity_id, None)
                pair = Pair(rule, fingerprint(labels), labels, kind, entity_id, None, column)
                heartbeat = heartbeat_s(entity.interval_s if entity else None, rule.heartbeat_s)
                index = self._pairs.add(pair, is_open=pair.fingerprint in self.alerts, heartbeat=heartbeat)
                self._liveness.pairs.columns[slot, column] = index
        self._liveness.pairs.matched[slot] = True

    # -- restoring after a restart ---------------------------------------------------------------

    def restore(
        self, alerts: Iterable[Alert], liveness_rows: Iterable[tuple[str, str, float | None, float | None]], now: float
    ) -> list[Alert]:
        """Take back the open alerts and what is known of each entity's liveness; returns alerts whose rule
        is gone (now resolved)."""
        self._liveness.restore(liveness_rows)
        names = {r.name for r in self.rules}
        gone = []
        for alert in alerts:
            if alert.rule not in names:
                alert.state, alert.ends_at = RESOLVED, now
                gone.append(alert)
                continue
            alert.cond = Condition(alert.state, alert.pending_since, alert.value if alert.value is not None else np.nan)
            alert.symptom = alert.suppressed_by == alert.ref
            self._index(alert)
        return gone

    def _index(self, alert: Alert) -> None:
        self._pairs.set_open(alert.fingerprint, True)
        rule = self._rule(alert.rule)
        self._open.add(alert, down=rule is not None and rule.down and alert.state == FIRING)

    def _unindex(self, alert: Alert) -> None:
        self._pairs.set_open(alert.fingerprint, False)
        self._open.remove(alert)

    def _rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def resume(self, now: float) -> None:
        """Alerting sees the store again after a blind time: silence counts from `now` (`Liveness`)."""
        self._liveness.resume(now)

    @property
    def down_refs(self) -> set[str]:
        return set(self._down)

    # -- evaluation --------------------------------------------------------------------------------

    def observe(
        self,
        series_ids: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        key_of: Callable[[int], SeriesKey | None],
        *,
        statuses: Iterable[StatusUpdate] = (),
        seen: dict[tuple[str, str], float] | None = None,
        now: float,
    ) -> list[Alert]:
        """Evaluate a committed batch; returns the alerts whose state changed."""
        changed: dict[str, Alert] = {}
        down_before = set(self._down)
        if len(series_ids):

            def match(series_id: int) -> int | None:
                key = key_of(series_id)
                return None if key is None else self._match_series(series_id, key)

            batch = group(series_ids, ts, values, self._series, match)
            if batch is not None:
                self._judge_series(batch, now, changed)
        self._judge_down(self._liveness.heard(seen, statuses, now), now, changed)
        self._topology(down_before, changed)
        self._inhibition(changed)
        self._extend_holds(now)
        return list(changed.values())

    def tick(self, now: float) -> list[Alert]:
        """Heartbeats, no-data and `for` durations that ran out while no sample came."""
        changed: dict[str, Alert] = {}
        down_before = set(self._down)
        for alert in list(self.alerts.values()):
            if alert.state == PENDING:
                rule = self._rule(alert.rule)
                if rule is not None:
                    new = due(alert.cond, now=now, for_s=for_s(rule))
                    if new is not alert.cond:
                        self._apply(rule, alert.fingerprint, alert.labels, alert.kind, alert.entity, new, now, changed)
        self._judge_down(np.arange(len(self._seen)), now, changed)
        for alert in list(self.alerts.values()):
            if alert.clearing_since is not None:
                rule = self._rule(alert.rule)
                if rule is None or now - alert.clearing_since >= keep_firing_s(rule, alert):
                    self._resolve(alert, alert.clearing_since, changed)
                else:
                    self._suppression.release(alert, now)
        self._topology(down_before, changed)
        self._inhibition(changed)
        self._extend_holds(now)
        return list(changed.values())

    def _judge_series(self, batch: Grouped, now: float, changed: dict[str, Alert]) -> None:
        for pair, cond in self._judge.judge(batch, self._series, self._pairs, self.alerts, now):
            self._apply_pair(pair, cond, now, changed)

    def prime(self, series_id: int, key: SeriesKey, ts: np.ndarray, values: np.ndarray) -> None:
        """Fill a series' window from the store after a restart, without judging the samples again."""
        slot = self._match_series(series_id, key)
        horizon = self._series.horizon[slot]
        if horizon > 0 and ts.size:
            self._judge.prime(series_id, horizon, ts, values)
            last = float(self._series.last_ts[slot])
            self._series.last_ts[slot] = max(float("-inf") if np.isnan(last) else last, float(ts[-1]))

    def window_metrics(self) -> dict[str, float]:
        """Metric name -> the longest window its rules need (what to prime after a restart)."""
        out: dict[str, float] = {}
        for rule in self.rules:
            if rule.metric and rule.horizon_s > 0:
                out[rule.metric] = max(out.get(rule.metric, 0.0), rule.horizon_s)
        return out

    def window_kinds(self) -> dict[str, list[str] | None]:
        """Metric name -> the entity kinds whose series of it keep a window (None: any kind)."""
        out: dict[str, list[str] | None] = {}
        for rule in self.rules:
            if rule.metric and rule.horizon_s > 0:
                kinds = out.get(rule.metric, [])
                out[rule.metric] = None if rule.kind is None or kinds is None else sorted({*kinds, rule.kind})
        return out

    def _judge_down(self, slots: np.ndarray, now: float, changed: dict[str, Alert]) -> None:
        """The `down` rules of these entities (LastSeen slots)."""
        for pair, cond, reason in self._liveness.judge(slots, now, self._pairs, self.alerts, self._match_entity):
            self._apply_pair(pair, cond, now, changed, reason=reason)

    # -- state changes -----------------------------------------------------------------------------

    def _apply_pair(
        self, pair: Pair, cond: Condition, now: float, changed: dict[str, Alert], reason: str | None = None
    ) -> None:
        """`_apply` for a matched pair (a series' rule or an entity's `down` rule)."""
        rule, fp, labels, kind, entity_id = pair.rule, pair.fingerprint, pair.labels, pair.kind, pair.entity
        self._apply(rule, fp, labels, kind, entity_id, cond, now, changed, series_id=pair.series_id, reason=reason)

    def _apply(
        self,
        rule: Rule,
        fp: str,
        labels: dict[str, str],
        kind: str,
        entity_id: str,
        cond: Condition,
        now: float,
        changed: dict[str, Alert],
        *,
        series_id: int | None = None,
        reason: str | None = None,
    ) -> None:
        alert = self.alerts.get(fp)
        if cond.state == INACTIVE:
            if alert is None:
                return
            alert.cond = cond
            if alert.state == FIRING:
                if alert.clearing_since is None:
                    alert.clearing_since = now
                if now - alert.clearing_since < keep_firing_s(rule, alert):
                    return  # flap damping: still firing until it has stayed healthy for a while
                self._resolve(alert, alert.clearing_since, changed)
                return
            alert.dropped = True
            self._unindex(alert)
            changed[fp] = alert
            return
        if alert is not None and alert.state == FIRING and alert.clearing_since is not None:
            # Broke again before it stayed healthy long enough: the same incident goes on, no new page.
            alert.clearing_since = None
            alert.flaps += 1
            if rule.down:
                self._open.mark_down(alert)  # down again, if the grace had let it go
            if cond.state != FIRING:
                cond = replace(cond, state=FIRING)
            changed[fp] = alert
        if alert is None:
            entity = self._entities.get((kind, entity_id))
            alert = Alert(
                fingerprint=fp,
                rule=rule.name,
                severity=rule.severity,
                kind=kind,
                entity=entity_id,
                labels=labels,
                state=PENDING,
                site=entity.site if entity else None,
                agency=entity.agency if entity else None,
                pending_since=cond.since if cond.since is not None else now,
                series_id=series_id,
            )
            self._index(alert)
            changed[fp] = alert
        alert.cond = cond
        alert.value = None if np.isnan(cond.value) else float(cond.value)
        if cond.state == FIRING and alert.state != FIRING:
            alert.state, alert.starts_at = FIRING, now
            if rule.down:
                self._open.mark_down(alert)
            self._suppression.hold(alert, rule, now)
            changed[fp] = alert
        if fp in changed:
            self._annotator.annotate(alert, rule, reason)
            if alert.suppressed_by is None and alert.last_notified_at is None:
                self._suppression.suppress(alert, rule, self._down)

    def _resolve(self, alert: Alert, at: float | None, changed: dict[str, Alert]) -> None:
        alert.state, alert.ends_at = RESOLVED, at
        alert.clearing_since = None
        self._unindex(alert)
        changed[alert.fingerprint] = alert

    # -- suppression, kept here for the reference engine of tests/alerts/test_evaluation.py ----------------

    def _topology(self, down_before: set[str], changed: dict[str, Alert]) -> None:
        self._suppression.topology_changed(down_before, changed)

    def _inhibition(self, changed: dict[str, Alert]) -> None:
        self._suppression.inhibition(changed)

    def _extend_holds(self, now: float) -> None:
        self._suppression.extend_holds(now)
