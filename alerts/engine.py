"""The streaming evaluator: new samples, statuses and ticks in, alert state changes out.

Single-threaded and free of I/O: the service feeds it committed batches and the clock's ticks, and
persists and dispatches the alerts it returns. The detectors it calls are pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from alerts.alert import FIRING, PENDING, RESOLVED, Alert, alert_labels, fingerprint
from alerts.detectors.anomaly import same_hour_of_week, seasonal_anomaly
from alerts.detectors.burn_rate import burn_rates, is_burning
from alerts.detectors.heartbeat import heartbeat_s, liveness
from alerts.detectors.threshold import INACTIVE, Condition, advance, compare, due
from alerts.detectors.window import rate, window_quantile
from alerts.rules import Rule
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


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass
class _Buffer:
    """Recent samples of one series, as long as its rules' windows need."""

    ts: np.ndarray
    values: np.ndarray
    horizon: float

    def extend(self, ts: np.ndarray, values: np.ndarray) -> None:
        if self.ts.size and ts.size and ts[0] < self.ts[-1]:
            keep = ts > self.ts[-1]  # late samples do not rewrite the past the rules already judged
            ts, values = ts[keep], values[keep]
        ts_all = np.concatenate((self.ts, ts))
        values_all = np.concatenate((self.values, values))
        if ts_all.size:
            start = np.searchsorted(ts_all, ts_all[-1] - self.horizon, side="right")
            ts_all, values_all = ts_all[start:], values_all[start:]
        self.ts, self.values = ts_all, values_all


def _advance_by_rule(cond: Condition, rule: Rule, *, value: float, at: float, now: float) -> Condition:
    """One observation judged against the rule's own operator, threshold, clear level and `for`."""
    return advance(
        cond, value=value, at=at, now=now, op=rule.op, threshold=rule.threshold, clear=rule.clear, for_s=rule.for_s
    )


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
        self._live: dict[tuple[str, str], list[float | None]] = {}  # (kind, id) -> [last_seen, offline_at]
        self._heard: dict[tuple[str, str], float] = {}  # (kind, id) -> newest sample or status seen by this engine
        self._buffers: dict[int, _Buffer] = {}
        self._last_ts: dict[int, float] = {}  # newest sample judged, per series
        self._series_rules: dict[int, list[tuple[Rule, str, dict[str, str]]]] = {}
        self._baseline_cache: dict[tuple[int, float], np.ndarray] = {}
        self._series_rule_index: dict[str, list[Rule]] = {}
        self._down_rules = [r for r in rules if r.type == "down"]
        for rule in rules:
            if rule.metric and rule.type != "down":
                self._series_rule_index.setdefault(rule.metric, []).append(rule)
        self.set_inventory(inventory)

    # -- inventory -------------------------------------------------------------------------------

    def set_inventory(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._entities = {(e.kind, e.id): e for e in inventory.entities}
        self._sites = {s.id: s.name for s in inventory.sites}
        self._agencies = {a.id: a.name for a in inventory.agencies}
        self.topology = Topology((e.ref, e.depends_on) for e in inventory.entities)
        self._series_rules.clear()
        for key in self._entities:
            self._live.setdefault(key, [self.start, None])

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

    def _rules_for(self, series_id: int, key: SeriesKey) -> list[tuple[Rule, str, dict[str, str]]]:
        found = self._series_rules.get(series_id)
        if found is None:
            found = []
            for rule in self._series_rule_index.get(key.metric, ()):
                if self._matches(rule, key.kind, key.entity):
                    labels = self._labels(rule, key.kind, key.entity, key.labels_dict)
                    found.append((rule, fingerprint(labels), labels))
            self._series_rules[series_id] = found
        return found

    # -- restoring after a restart ---------------------------------------------------------------

    def restore(
        self, alerts: Iterable[Alert], liveness_rows: Iterable[tuple[str, str, float | None, float | None]], now: float
    ) -> list[Alert]:
        """Take back the open alerts and what is known of each entity's liveness; returns alerts whose rule
        is gone (now resolved)."""
        for kind, entity_id, last_seen, offline_at in liveness_rows:
            if (kind, entity_id) in self._entities or last_seen is not None:
                self._live[(kind, entity_id)] = [last_seen if last_seen is not None else self.start, offline_at]
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
        self._by_ref.setdefault(alert.ref, set()).add(alert.fingerprint)
        rule = self._rule(alert.rule)
        if rule is not None and rule.down and alert.state == FIRING:
            self._down.setdefault(alert.ref, set()).add(alert.fingerprint)

    def _unindex(self, alert: Alert) -> None:
        self.alerts.pop(alert.fingerprint, None)
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
            order = np.lexsort((ts, series_ids))
            sids, ts_sorted, values_sorted = series_ids[order], ts[order], values[order]
            uniq, starts = np.unique(sids, return_index=True)
            ends = np.append(starts[1:], sids.size)
            for sid, a, b in zip(uniq.tolist(), starts.tolist(), ends.tolist(), strict=True):
                cached = self._series_rules.get(sid)
                if cached is not None and not cached:
                    continue
                last = self._last_ts.get(sid)
                if last is not None and ts_sorted[b - 1] <= last:
                    continue  # nothing newer than what was judged (a redelivery, or a late sample)
                key = key_of(sid)
                if key is None:
                    continue
                t, v = ts_sorted[a:b], values_sorted[a:b]
                if last is not None:
                    newer = t > last
                    t, v = t[newer], v[newer]
                self._last_ts[sid] = float(t[-1])
                self._eval_series(sid, key, t, v, now, changed)
        touched: set[tuple[str, str]] = set()
        for (kind, entity_id), last in (seen or {}).items():
            live = self._live.setdefault((kind, entity_id), [last, None])
            if live[0] is None or last > live[0]:
                live[0] = last
            self._heard[(kind, entity_id)] = max(last, self._heard.get((kind, entity_id), last))
            if live[1] is not None and last > live[1]:
                live[1] = None
            touched.add((kind, entity_id))
        for status in statuses:
            live = self._live.setdefault((status.kind, status.entity), [None, None])
            if status.status == "offline":
                live[1] = status.ts
            else:
                live[1] = None
                live[0] = max(live[0] or status.ts, status.ts)
            touched.add((status.kind, status.entity))
        for kind, entity_id in touched:
            self._eval_down_entity(kind, entity_id, now, changed)
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
                    new = due(alert.cond, now=now, for_s=rule.for_s)
                    if new is not alert.cond:
                        self._apply(rule, alert.fingerprint, alert.labels, alert.kind, alert.entity, new, now, changed)
        for kind, entity_id in list(self._live):
            self._eval_down_entity(kind, entity_id, now, changed)
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
            live = self._live.get((kind, entity_id))
            heard = self._heard.get((kind, entity_id))  # real evidence, not the start-up assumption
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
                    fires_at = pending.cond.since + rule.for_s + 1.0
                    due = fires_at if due is None else max(due, fires_at)
        return due

    def _eval_series(
        self, sid: int, key: SeriesKey, ts: np.ndarray, values: np.ndarray, now: float, changed: dict[str, Alert]
    ) -> None:
        rules = self._rules_for(sid, key)
        if not rules:
            return
        horizon = max(r.horizon_s for r, _, _ in rules)
        buffer = None
        if horizon > 0:
            buffer = self._buffers.get(sid)
            if buffer is None:
                buffer = self._buffers[sid] = _Buffer(np.empty(0), np.empty(0), horizon)
            buffer.extend(ts, values)
        end = float(ts[-1])
        for rule, fp, labels in rules:
            open_alert = self.alerts.get(fp)
            cond = open_alert.cond if open_alert is not None else Condition()
            if rule.type == "threshold":
                for t, v in zip(ts.tolist(), values.tolist(), strict=True):
                    cond = _advance_by_rule(cond, rule, value=v, at=t, now=now)
            elif rule.type in ("percentile", "rate"):
                assert buffer is not None
                if rule.type == "percentile":
                    value = window_quantile(buffer.ts, buffer.values, end=end, window_s=rule.window_s, q=rule.quantile)
                else:
                    value = rate(
                        buffer.ts,
                        buffer.values,
                        end=end,
                        window_s=rule.window_s,
                        per_s=rule.per_s,
                        counter=rule.counter,
                    )
                if np.isnan(value):
                    continue
                cond = _advance_by_rule(cond, rule, value=value, at=end, now=now)
            elif rule.type == "burn_rate":
                assert buffer is not None
                bad = compare(rule.bad_op, buffer.values, rule.bad_threshold).astype(np.float64)  # type: ignore[union-attr]
                rates = burn_rates(buffer.ts, bad, end=end, objective=rule.objective, windows=rule.windows)
                burning, burn = is_burning(rates)
                cond = advance(
                    cond, value=1.0 if burning else 0.0, at=end, now=now, op=">=", threshold=0.5, clear=None, for_s=0
                )
                cond = replace(cond, value=burn)
            elif rule.type == "anomaly":
                holiday, starts = same_hour_of_week(end, weeks=rule.weeks, tz=self.timezone, is_holiday=self.is_holiday)
                if holiday or not starts:
                    continue
                history = self._history(sid, starts)
                value = float(values[-1])
                hit, _score, _baseline = seasonal_anomaly(
                    value,
                    history,
                    min_history=rule.min_history,
                    mads=rule.mads,
                    min_deviation=rule.min_deviation,
                    direction=rule.direction,
                )
                if hit is None:
                    continue
                cond = advance(
                    cond,
                    value=1.0 if hit else 0.0,
                    at=end,
                    now=now,
                    op=">=",
                    threshold=0.5,
                    clear=None,
                    for_s=rule.for_s,
                )
                cond = replace(cond, value=value)
            self._apply(rule, fp, labels, key.kind, key.entity, cond, now, changed, series_id=sid)

    def prime(self, series_id: int, key: SeriesKey, ts: np.ndarray, values: np.ndarray) -> None:
        """Fill a series' window from the store after a restart, without judging the samples again."""
        rules = self._rules_for(series_id, key)
        horizon = max((r.horizon_s for r, _, _ in rules), default=0.0)
        if horizon > 0 and ts.size:
            buffer = self._buffers.setdefault(series_id, _Buffer(np.empty(0), np.empty(0), horizon))
            buffer.extend(ts, values)
            self._last_ts[series_id] = max(self._last_ts.get(series_id, float("-inf")), float(ts[-1]))

    def window_metrics(self) -> dict[str, float]:
        """Metric name -> the longest window its rules need (what to prime after a restart)."""
        out: dict[str, float] = {}
        for rule in self.rules:
            if rule.metric and rule.horizon_s > 0:
                out[rule.metric] = max(out.get(rule.metric, 0.0), rule.horizon_s)
        return out

    def _history(self, sid: int, starts: list[float]) -> np.ndarray:
        cache_key = (sid, starts[0])
        found = self._baseline_cache.get(cache_key)
        if found is None:
            if len(self._baseline_cache) > 100_000:
                self._baseline_cache.clear()
            found = self._baseline_cache[cache_key] = self.baseline(sid, starts)
        return found

    def _eval_down_entity(self, kind: str, entity_id: str, now: float, changed: dict[str, Alert]) -> None:
        live = self._live.get((kind, entity_id))
        if live is None:
            return
        entity = self._entities.get((kind, entity_id))
        for rule in self._down_rules:
            if not self._matches(rule, kind, entity_id):
                continue
            state = liveness(
                now=now,
                last_seen=live[0],
                offline_at=live[1],
                heartbeat=heartbeat_s(entity.interval_s if entity else None, rule.heartbeat_s),
            )
            labels = self._labels(rule, kind, entity_id, None)
            fp = fingerprint(labels)
            open_alert = self.alerts.get(fp)
            if state.down:
                since = state.since if state.since is not None else now
                kept = open_alert.cond.since if open_alert is not None else None
                cond = Condition(FIRING, kept if kept is not None else since, 1.0)
            else:
                cond = Condition(INACTIVE, None, 0.0)
            if open_alert is None and not state.down:
                continue
            self._apply(rule, fp, labels, kind, entity_id, cond, now, changed, reason=state.reason)

    # -- state changes -----------------------------------------------------------------------------

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
            "threshold": rule.threshold,
            "rule": rule.name,
            "window": format_duration(rule.window_s),
            "for": format_duration(rule.for_s),
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
