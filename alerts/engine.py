"""The streaming evaluator: new samples, statuses and ticks in, alert state changes out.

Single-threaded and free of I/O: the service feeds it committed batches and the clock's ticks, and
persists and dispatches the alerts it returns. The detectors it calls are pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import date

import numpy as np

from alerts.alert import FIRING, PENDING, RESOLVED, Alert, alert_labels, fingerprint
from alerts.detectors.anomaly import Baseline, robust_baseline
from alerts.detectors.heartbeat import heartbeat_s, liveness
from alerts.detectors.threshold import INACTIVE, Condition, due
from alerts.evaluation import (
    AnomalyMemo,
    Buffer,
    Grouped,
    Pair,
    Pairs,
    SameHour,
    SeriesTable,
    WindowMemo,
    advance_threshold,
    anomaly_condition,
    group,
    threshold_candidates,
    window_condition,
)
from alerts.last_seen import LastSeen
from alerts.liveness import EntityPairs
from alerts.rule_types import AnomalyRule, DownRule, PercentileRule, RateRule, Rule, ThresholdRule, WindowRule, for_s
from alerts.texts import render
from alerts.topology import Topology
from ioc.inventory import Entity, Inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

# Flap damping: an alert that broke again this many times while clearing counts as flapping, and then
# has to stay healthy FLAPPING_HOLD_FACTOR times its rule's keep_firing_for before it resolves.
FLAPPING_AFTER = 3
FLAPPING_HOLD_FACTOR = 3.0

# (series id, the starts of the hours wanted) -> the series' hourly averages at those hours.
BaselineSource = Callable[[int, list[float]], np.ndarray]


def _no_baseline(series_id: int, starts: list[float]) -> np.ndarray:
    return np.empty(0)


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Engine:
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
        self.topology_hold_s = topology_hold_s
        self.reconnect_grace_s = reconnect_grace_s
        self.language = language
        self.timezone = timezone
        self.baseline = baseline
        self.is_holiday = is_holiday
        self.start = start
        self.alerts: dict[str, Alert] = {}  # open alerts by fingerprint
        self._by_ref: dict[str, set[str]] = {}
        self._down: dict[str, set[str]] = {}  # entity ref -> fingerprints of its firing `down` alerts
        self._seen = LastSeen()
        self._buffers: dict[int, Buffer] = {}
        self._series = SeriesTable()  # per series: its rules' pairs, the newest sample judged
        self._baseline_cache: dict[tuple[int, float], Baseline] = {}
        self._same_hour = SameHour(timezone, is_holiday)
        self._series_rule_index: dict[str, list[Rule]] = {}
        self._down_rules = [r for r in rules if isinstance(r, DownRule)]
        for rule in rules:
            if not isinstance(rule, DownRule):
                self._series_rule_index.setdefault(rule.metric, []).append(rule)
        self.set_inventory(inventory)

    # -- inventory -------------------------------------------------------------------------------

    def set_inventory(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._entities = {(e.kind, e.id): e for e in inventory.entities}
        self._sites = {s.id: s.name for s in inventory.sites}
        self._agencies = {a.id: a.name for a in inventory.agencies}
        self.topology = Topology((e.ref, e.depends_on) for e in inventory.entities)
        self._pairs = Pairs()  # labels and heartbeats come from the inventory: match everything again
        self._anomalies = AnomalyMemo()
        self._windows = WindowMemo()
        self._series.unmatch()
        self._entity_pairs = EntityPairs(len(self._down_rules))
        for key in self._entities:
            self._seen.slot(key, self.start)

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
                    self._windows.setup(index, rule)
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
                self._entity_pairs.columns[slot, column] = index
        self._entity_pairs.matched[slot] = True

    # -- restoring after a restart ---------------------------------------------------------------

    def restore(
        self, alerts: Iterable[Alert], liveness_rows: Iterable[tuple[str, str, float | None, float | None]], now: float
    ) -> list[Alert]:
        """Take back the open alerts and what is known of each entity's liveness; returns alerts whose rule
        is gone (now resolved)."""
        for kind, entity_id, last_seen, offline_at in liveness_rows:
            if (kind, entity_id) in self._entities or last_seen is not None:
                self._seen.set((kind, entity_id), last_seen if last_seen is not None else self.start, offline_at)
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
        self.alerts[alert.fingerprint] = alert
        self._pairs.set_open(alert.fingerprint, True)
        self._by_ref.setdefault(alert.ref, set()).add(alert.fingerprint)
        rule = self._rule(alert.rule)
        if rule is not None and rule.down and alert.state == FIRING:
            self._down.setdefault(alert.ref, set()).add(alert.fingerprint)

    def _unindex(self, alert: Alert) -> None:
        self.alerts.pop(alert.fingerprint, None)
        self._pairs.set_open(alert.fingerprint, False)
        refs = self._by_ref.get(alert.ref)
        if refs is not None:
            refs.discard(alert.fingerprint)
            if not refs:
                del self._by_ref[alert.ref]
        down = self._down.get(alert.ref)
        if down is not None:
            down.discard(alert.fingerprint)
            if not down:
                del self._down[alert.ref]

    def _rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

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
        touched = self._seen.saw(seen) if seen else np.empty(0, dtype=np.intp)
        told = [self._seen.status((s.kind, s.entity), s.status, s.ts) for s in statuses]
        if told:
            touched = np.concatenate((touched, told))
            _, first = np.unique(touched, return_index=True)
            touched = touched[np.sort(first)]  # each entity once, in the order first heard of
        self._judge_down(touched, now, changed)
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
                if rule is None or now - alert.clearing_since >= self._keep_firing_s(rule, alert):
                    self._resolve(alert, alert.clearing_since, changed)
                elif now - alert.clearing_since >= self.reconnect_grace_s and alert.ref in self._down:
                    # Healthy again for the grace: what is behind it is on its own, though its resolved waits.
                    self._down[alert.ref].discard(alert.fingerprint)
                    if not self._down[alert.ref]:
                        del self._down[alert.ref]
        self._topology(down_before, changed)
        self._inhibition(changed)
        self._extend_holds(now)
        return list(changed.values())

    def _extend_holds(self, now: float) -> None:
        """A held dependent whose root has a `down` alert pending (waiting out its `for`) waits for that."""
        for alert in self.alerts.values():
            if alert.hold_until is None or now < alert.hold_until or alert.last_notified_at is not None:
                continue
            if alert.suppressed_by is not None or alert.state != FIRING:
                continue
            rule = self._rule(alert.rule)
            refs = self.topology.ancestors(alert.ref)
            if rule is not None and not rule.down:
                refs.insert(0, alert.ref)
            due = self._pending_down_until(refs)
            if due is not None and due > alert.hold_until:
                alert.hold_until = due

    def _roots_vouched_up(self, ref: str, now: float) -> bool:
        """True when everything `ref` depends on reported within its own interval (1.5x, for jitter),
        is not offline, and has no `down` alert firing or pending."""
        for root in self.topology.ancestors(ref):
            kind, _, entity_id = root.partition("/")
            entity = self._entities.get((kind, entity_id))
            live = self._seen.get((kind, entity_id))
            heard = self._seen.heard_at((kind, entity_id))  # real evidence, not the start-up assumption
            if entity is None or entity.interval_s is None or live is None or heard is None:
                return False
            if live[1] is not None or now - heard > 1.5 * entity.interval_s:
                return False
            if root in self._down or self._pending_down_until([root]) is not None:
                return False
        return True

    def _pending_down_until(self, refs: list[str]) -> float | None:
        """When the `down` alerts pending on these entities would fire (the latest), or None."""
        due = None
        for ref in refs:
            for fp in self._by_ref.get(ref, ()):
                pending = self.alerts[fp]
                rule = self._rule(pending.rule)
                if rule is not None and rule.down and pending.state == PENDING and pending.cond.since is not None:
                    fires_at = pending.cond.since + for_s(rule) + 1.0
                    due = fires_at if due is None else max(due, fires_at)
        return due

    def _judge_series(self, batch: Grouped, now: float, changed: dict[str, Alert]) -> None:
        """Advance the conditions that can change, per series in id order and per series in rule order."""
        pairs, table = self._pairs, self._series
        found, where = threshold_candidates(batch, table, pairs)
        work = [(s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True)]
        found, where = self._anomalies.candidates(batch, table, pairs)
        work.extend((s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True))
        found, where, deferred = self._windows.candidates(batch, table, pairs)
        work.extend((s, pairs.items[p].rank, p) for p, s in zip(found.tolist(), where.tolist(), strict=True))
        if not work and not deferred.size:
            return
        starts, ends, slots = batch.starts.tolist(), batch.ends.tolist(), batch.slots.tolist()
        if deferred.size:
            ts, values = batch.ts.tolist(), batch.values.tolist()
            for s in deferred.tolist():
                a, b = starts[s], ends[s]
                self._buffer(slots[s]).defer(ts[a:b], values[a:b])
        if not work:
            return
        work.sort()
        buffer, extended = None, -1
        for s, _, p in work:
            pair = pairs.items[p]
            rule, a, b = pair.rule, starts[s], ends[s]
            open_alert = self.alerts.get(pair.fingerprint)
            cond = open_alert.cond if open_alert is not None else Condition()
            end = float(batch.ts[b - 1])
            new: Condition | None
            if isinstance(rule, ThresholdRule):
                new = advance_threshold(cond, rule, batch.ts[a:b].tolist(), batch.values[a:b].tolist(), now)
            elif isinstance(rule, AnomalyRule):
                new = self._anomaly(p, rule, cond, float(batch.values[b - 1]), end, now, open_alert is not None)
            elif isinstance(rule, WindowRule):
                if extended != s:
                    buffer, extended = self._buffer(slots[s]), s
                    buffer.extend(batch.ts[a:b], batch.values[a:b])
                assert buffer is not None
                new = window_condition(cond, rule, buffer, end=end, now=now)
                self._windows.remember(p, buffer)
            else:
                continue  # a down rule: judged per entity, never on samples
            if new is not None:
                self._apply_pair(pair, new, now, changed)

    def _buffer(self, slot: int) -> Buffer:
        series_id = self._series.series_id(slot)
        buffer = self._buffers.get(series_id)
        if buffer is None:
            buffer = self._buffers[series_id] = Buffer(self._series.horizon[slot])
        return buffer

    def _anomaly(
        self, p: int, rule: AnomalyRule, cond: Condition, value: float, end: float, now: float, is_open: bool
    ) -> Condition | None:
        pair = self._pairs.items[p]
        holiday, starts = self._same_hour(end, rule.weeks)
        quarter = self._same_hour.cached_quarter(end)
        if holiday or not starts:
            self._anomalies.remember(p, rule, quarter, None)
            return None
        assert pair.series_id is not None
        baseline = self._baseline(pair.series_id, starts)
        self._anomalies.remember(p, rule, quarter, baseline)
        return anomaly_condition(cond, rule, baseline, value=value, end=end, now=now, is_open=is_open)

    def prime(self, series_id: int, key: SeriesKey, ts: np.ndarray, values: np.ndarray) -> None:
        """Fill a series' window from the store after a restart, without judging the samples again."""
        slot = self._match_series(series_id, key)
        horizon = self._series.horizon[slot]
        if horizon > 0 and ts.size:
            buffer = self._buffers.setdefault(series_id, Buffer(horizon))
            buffer.extend(ts, values)
            last = float(self._series.last_ts[slot])
            self._series.last_ts[slot] = max(float("-inf") if np.isnan(last) else last, float(ts[-1]))

    def window_metrics(self) -> dict[str, float]:
        """Metric name -> the longest window its rules need (what to prime after a restart)."""
        out: dict[str, float] = {}
        for rule in self.rules:
            if rule.metric and rule.horizon_s > 0:
                out[rule.metric] = max(out.get(rule.metric, 0.0), rule.horizon_s)
        return out

    def _baseline(self, sid: int, starts: list[float]) -> Baseline:
        cache_key = (sid, starts[0])
        found = self._baseline_cache.get(cache_key)
        if found is None:
            if len(self._baseline_cache) > 100_000:
                self._baseline_cache.clear()
            found = self._baseline_cache[cache_key] = robust_baseline(self.baseline(sid, starts))
        return found

    def _judge_down(self, slots: np.ndarray, now: float, changed: dict[str, Alert]) -> None:
        """The `down` rules of these entities (LastSeen slots): Python only for those that may be down or
        have an alert open."""
        if not self._down_rules or not slots.size:
            return
        self._entity_pairs.grow(len(self._seen))
        fresh = ~self._entity_pairs.matched[slots]
        if fresh.any():
            for slot in slots[fresh].tolist():
                self._match_entity(slot)
        found, entities = self._entity_pairs.candidates(slots, self._pairs, self._seen, now)
        for p, slot in zip(found.tolist(), entities.tolist(), strict=True):
            pair = self._pairs.items[p]
            state = liveness(
                now=now,
                last_seen=_none(self._seen.last_seen[slot]),
                offline_at=_none(self._seen.offline_at[slot]),
                heartbeat=float(self._pairs.heartbeat[p]),
            )
            open_alert = self.alerts.get(pair.fingerprint)
            if state.down:
                since = state.since if state.since is not None else now
                kept = open_alert.cond.since if open_alert is not None else None
                cond = Condition(FIRING, kept if kept is not None else since, 1.0)
            else:
                cond = Condition(INACTIVE, None, 0.0)
            if open_alert is None and not state.down:
                continue
            self._apply_pair(pair, cond, now, changed, reason=state.reason)

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
                if now - alert.clearing_since < self._keep_firing_s(rule, alert):
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
                self._down.setdefault(alert.ref, set()).add(fp)  # down again, if the grace had let it go
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
                self._down.setdefault(alert.ref, set()).add(fp)
                if (
                    self.topology_hold_s > 0
                    and self.topology.parents.get(alert.ref)
                    and not self._roots_vouched_up(alert.ref, now)
                ):
                    # A dependent's own outage may be its link's, not yet judged: give the root time to show.
                    # When every root has just reported and is up, the outage is the dependent's own and
                    # it pages at once.
                    alert.hold_until = now + self.topology_hold_s
            elif self._pending_down_until([alert.ref]) is not None:
                alert.hold_until = now  # its entity may be going down (a `for` running): wait for that
            changed[fp] = alert
        if fp in changed:
            self._annotate(alert, rule, reason)
            if alert.suppressed_by is None and alert.last_notified_at is None:
                self._suppress(alert, rule, self._down)

    def _suppress(self, alert: Alert, rule: Rule | None, down: Collection[str]) -> None:
        alert.suppressed_by = self._cause(alert, rule, down)
        # A window that still shows the outage after the entity is back (a burn rate, a p95) is no new
        # incident: a symptom of the entity's own outage stays suppressed until it resolves.
        alert.symptom = alert.suppressed_by == alert.ref and alert.ref in down

    def _keep_firing_s(self, rule: Rule, alert: Alert) -> float:
        factor = FLAPPING_HOLD_FACTOR if alert.flaps >= FLAPPING_AFTER else 1.0
        return rule.keep_firing_for_s * factor

    def _resolve(self, alert: Alert, at: float | None, changed: dict[str, Alert]) -> None:
        alert.state, alert.ends_at = RESOLVED, at
        alert.clearing_since = None
        self._unindex(alert)
        changed[alert.fingerprint] = alert

    def _cause(self, alert: Alert, rule: Rule | None, down: Collection[str]) -> str | None:
        """What an alert is a symptom of: a down entity it depends on, else its own entity being down
        (a link that is down also loses packets; one page for it is enough)."""
        root = self.topology.root_cause(alert.ref, down)
        if root is None and alert.ref in down and rule is not None and not rule.down:
            root = alert.ref
        if root is None and rule is not None and rule.inhibited_by:
            for fp in self._by_ref.get(alert.ref, ()):
                other = self.alerts[fp]
                if other.state == FIRING and other.rule in rule.inhibited_by and other.suppressed_by is None:
                    return alert.ref
        return root

    def _inhibition(self, changed: dict[str, Alert]) -> None:
        """Alerts of an entity that another of its alerts inhibits (`inhibited_by`): suppressed while that
        one fires unsuppressed, free to page once it is gone."""
        refs = {a.ref for a in changed.values()}
        for ref in refs:
            for fp in list(self._by_ref.get(ref, ())):
                alert = self.alerts[fp]
                rule = self._rule(alert.rule)
                if rule is None or not rule.inhibited_by or alert.last_notified_at is not None or alert.symptom:
                    continue
                if alert.state != FIRING or alert.suppressed_by not in (None, ref):
                    continue
                cause = self._cause(alert, rule, self._down)
                if cause != alert.suppressed_by:
                    alert.suppressed_by = cause
                    changed[fp] = alert

    def _annotate(self, alert: Alert, rule: Rule, reason: str | None) -> None:
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

    def _topology(self, down_before: set[str], changed: dict[str, Alert]) -> None:
        """Suppress what is behind a newly down entity; let it page on its own once the root is back."""
        down_now = set(self._down)
        if down_now == down_before:
            return
        for root in down_now - down_before:
            for ref in [root, *self.topology.descendants(root)]:
                for fp in self._by_ref.get(ref, ()):
                    alert = self.alerts[fp]
                    if alert.suppressed_by is None and alert.last_notified_at is None:
                        self._suppress(alert, self._rule(alert.rule), down_now)
                        if alert.suppressed_by is not None:
                            changed[fp] = alert
        for gone in down_before - down_now:
            for ref in [gone, *self.topology.descendants(gone)]:
                for fp in self._by_ref.get(ref, ()):
                    alert = self.alerts[fp]
                    if alert.suppressed_by is not None and alert.suppressed_by not in down_now and not alert.symptom:
                        if alert.clearing_since is not None:
                            continue  # healthy again already: it ends as part of its root's incident
                        self._suppress(alert, self._rule(alert.rule), down_now)
                        alert.hold_until = None  # the root was judged; what is still down pages now
                        changed[fp] = alert
