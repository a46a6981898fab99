"""The engine's batch evaluation over arrays against a straightforward one: every series, rule and
sample (and every entity's liveness) judged one at a time in Python, as the engine used to."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import cache

import numpy as np
from alert_helpers import inventory_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.alert import Alert, fingerprint
from alerts.detectors.anomaly import same_hour_of_week, seasonal_anomaly
from alerts.detectors.burn_rate import burn_rates, is_burning
from alerts.detectors.heartbeat import heartbeat_s, liveness
from alerts.detectors.threshold import FIRING, INACTIVE, Condition, advance, compare
from alerts.detectors.window import rate, window_quantile
from alerts.engine import Engine
from alerts.evaluation import Buffer, SameHour, breached, op_code, quantile
from alerts.holidays import is_holiday
from alerts.rules import OPS, PercentileRule, RateRule, Rule, ThresholdRule, load_rules
from ioc.inventory import Inventory, parse_inventory
from ioc.model import StatusUpdate
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0


class ReferenceEngine(Engine):
    """The engine with the per-sample evaluation it had before batches were judged over arrays; what
    it does with a condition (`_apply`, topology, inhibition, holds) is the engine's own."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ref_rules: dict[int, list[tuple[Rule, str, dict[str, str]]]] = {}
        self.ref_last: dict[int, float] = {}
        self.ref_buffers: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        self.ref_history: dict[tuple[int, float], np.ndarray] = {}
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Silence counts from when the engine could see at the earliest; a batch of samples all taken
        # before then (a spool's replay) moves that on to its arrival, until the live data comes.
        self.ref_sight, self.ref_resumed = self.start, self.start

    def set_inventory(self, inventory: Inventory) -> None:
        super().set_inventory(inventory)
        self.ref_rules = {}

    def _ref_rules_for(self, sid: int, key: SeriesKey) -> list[tuple[Rule, str, dict[str, str]]]:
        found = self.ref_rules.get(sid)
        if found is None:
            found = []
            for rule in self._series_rule_index.get(key.metric, ()):
                if self._matches(rule, key.kind, key.entity):
                    labels = self._labels(rule, key.kind, key.entity, key.labels_dict)
                    found.append((rule, fingerprint(labels), labels))
            self.ref_rules[sid] = found
        return found

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
        changed: dict[str, Alert] = {}
        down_before = set(self._down)
        if len(series_ids):
            order = np.lexsort((ts, series_ids))
            sids, ts_sorted, values_sorted = series_ids[order], ts[order], values[order]
            uniq, starts = np.unique(sids, return_index=True)
            ends = np.append(starts[1:], sids.size)
            for sid, a, b in zip(uniq.tolist(), starts.tolist(), ends.tolist(), strict=True):
                cached = self.ref_rules.get(sid)
                if cached is not None and not cached:
                    continue
                last = self.ref_last.get(sid)
                if last is not None and ts_sorted[b - 1] <= last:
                    continue
                key = key_of(sid)
                if key is None:
                    continue
                t, v = ts_sorted[a:b], values_sorted[a:b]
                if last is not None:
                    newer = t > last
                    t, v = t[newer], v[newer]
                self.ref_last[sid] = float(t[-1])
                self._ref_series(sid, key, t, v, now, changed)
        touched: dict[tuple[str, str], None] = {}
        if seen and self.ref_resumed is not None:
            if max(seen.values()) >= self.ref_resumed or now - self.ref_resumed > 600:
                self.ref_resumed = None
            else:
                self.ref_sight = max(self.ref_sight, now)
        for key, last in (seen or {}).items():
            live = self._seen.get(key)
            if live is None:
                self._seen.slot(key, last)
                live = (last, None)
            last_seen, offline_at = live
            if last_seen is None or last > last_seen:
                last_seen = last
            heard = self._seen.heard_at(key)
            self._seen.heard[self._seen.slot(key)] = max(last, heard if heard is not None else last)
            if offline_at is not None and last > offline_at:
                offline_at = None
            self._seen.set(key, last_seen, offline_at)
            touched[key] = None
        for status in statuses:
            key = (status.kind, status.entity)
            last_seen, offline_at = self._seen.get(key) or (None, None)
            if status.status == "offline":
                offline_at = status.ts
            else:
                offline_at = None
                last_seen = max(last_seen or status.ts, status.ts)
            self._seen.set(key, last_seen, offline_at)
            touched[key] = None
        for key in touched:
            self._ref_down(key, now, changed)
        self._topology(down_before, changed)
        self._inhibition(changed)
        self._extend_holds(now)
        return list(changed.values())

    def _judge_down(self, slots: np.ndarray, now: float, changed: dict[str, Alert]) -> None:
        for slot in slots.tolist():  # the tick: every entity
            self._ref_down(self._seen.keys[slot], now, changed)

    def _ref_down(self, key: tuple[str, str], now: float, changed: dict[str, Alert]) -> None:
        kind, entity_id = key
        live = self._seen.get(key)
        assert live is not None
        entity = self._entities.get(key)
        for rule in self._down_rules:
            if not self._matches(rule, kind, entity_id):
                continue
            labels = self._labels(rule, kind, entity_id, None)
            fp = fingerprint(labels)
            open_alert = self.alerts.get(fp)
            state = liveness(
                now=now,
                last_seen=live[0],
                offline_at=live[1],
                heartbeat=heartbeat_s(entity.interval_s if entity else None, rule.heartbeat_s),
                sight=self.ref_sight if open_alert is None else None,
            )
            if state.down:
                since = state.since if state.since is not None else now
                kept = open_alert.cond.since if open_alert is not None else None
                cond = Condition(FIRING, kept if kept is not None else since, 1.0)
            else:
                cond = Condition(INACTIVE, None, 0.0)
            if open_alert is None and not state.down:
                continue
            self._apply(rule, fp, labels, kind, entity_id, cond, now, changed, reason=state.reason)

    def _ref_series(
        self, sid: int, key: SeriesKey, ts: np.ndarray, values: np.ndarray, now: float, changed: dict[str, Alert]
    ) -> None:
        rules = self._ref_rules_for(sid, key)
        if not rules:
            return
        horizon = max(r.horizon_s for r, _, _ in rules)
        if horizon > 0:
            buf_ts, buf_values, buf_horizon = self.ref_buffers.get(sid, (np.empty(0), np.empty(0), horizon))
            buf_ts, buf_values = np.concatenate((buf_ts, ts)), np.concatenate((buf_values, values))
            start = np.searchsorted(buf_ts, buf_ts[-1] - buf_horizon, side="right")
            buf_ts, buf_values = buf_ts[start:], buf_values[start:]
            self.ref_buffers[sid] = (buf_ts, buf_values, buf_horizon)
        end = float(ts[-1])
        for rule, fp, labels in rules:
            open_alert = self.alerts.get(fp)
            cond = open_alert.cond if open_alert is not None else Condition()
            if isinstance(rule, ThresholdRule | PercentileRule | RateRule):
                judge = {"op": rule.op, "threshold": rule.threshold, "clear": rule.clear, "for_s": rule.for_s}
            if rule.type == "threshold":
                for t, v in zip(ts.tolist(), values.tolist(), strict=True):
                    cond = advance(cond, value=v, at=t, now=now, **judge)  # type: ignore[arg-type]
            elif rule.type in ("percentile", "rate"):
                if rule.type == "percentile":
                    value = window_quantile(buf_ts, buf_values, end=end, window_s=rule.window_s, q=rule.quantile)
                else:
                    value = rate(
                        buf_ts, buf_values, end=end, window_s=rule.window_s, per_s=rule.per_s, counter=rule.counter
                    )
                if np.isnan(value):
                    continue
                cond = advance(cond, value=value, at=end, now=now, **judge)  # type: ignore[arg-type]
            elif rule.type == "burn_rate":
                bad = compare(rule.bad_op, buf_values, rule.bad_threshold).astype(np.float64)  # type: ignore[union-attr]
                rates = burn_rates(buf_ts, bad, end=end, objective=rule.objective, windows=rule.windows)
                burning, burn = is_burning(rates)
                cond = advance(
                    cond, value=1.0 if burning else 0.0, at=end, now=now, op=">=", threshold=0.5, clear=None, for_s=0
                )
                cond = replace(cond, value=burn)
            elif rule.type == "anomaly":
                holiday, starts = same_hour_of_week(end, weeks=rule.weeks, tz=self.timezone, is_holiday=self.is_holiday)
                if holiday or not starts:
                    continue
                history = self.ref_history.get((sid, starts[0]))
                if history is None:
                    history = self.ref_history[(sid, starts[0])] = self.baseline(sid, starts)
                value = float(values[-1])
                hit, _, _ = seasonal_anomaly(
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


KEYS: dict[int, SeriesKey] = {
    1: SeriesKey("link", "wan-xa-phu-vang", "up"),
    2: SeriesKey("link", "wan-xa-phu-vang", "loss_pct"),
    3: SeriesKey("link", "wan-xa-phu-vang", "rtt_ms"),
    4: SeriesKey("kiosk", "kiosk-pv-01", "printer_paper_pct"),
    5: SeriesKey("kiosk", "kiosk-pv-02", "temp_c"),
    6: SeriesKey("kiosk", "kiosk-pv-01", "printer_ok"),
    7: SeriesKey("service", "dvc-portal", "response_ms"),
    8: SeriesKey("service", "dvc-portal", "up"),
    9: SeriesKey("service", "dvc-portal", "dossiers_overdue"),
    10: SeriesKey("service", "dvc-portal", "tls_days_left"),
    11: SeriesKey("kiosk", "kiosk-pv-03", "queue_waiting"),
    12: SeriesKey("kiosk", "kiosk-pv-02", "cpu_pct"),  # no rule
    14: SeriesKey("kiosk", "kiosk-stray", "temp_c"),  # an entity the inventory does not know
    15: SeriesKey("service", "dvc-portal", "error_rate_pct", (("probe", "b"),)),
}
SERIES = [*KEYS, 13]  # 13: a series whose key is not known (yet)
VALUES = [0.0, 0.4, 1.0, 3.0, 8.0, 12.0, 18.0, 25.0, 70.0, 80.0, 160.0, 250.0, 1500.0, 2500.0, 3000.5, 3500.0, 5000.0]
# A quiet step: every series healthy, so windows empty of bad samples and alerts resolve.
HEALTHY = {
    1: 1.0,
    2: 0.1,
    3: 20.0,
    4: 60.0,
    5: 50.0,
    6: 1.0,
    7: 400.0,
    8: 1.0,
    9: 10.0,
    10: 60.0,
    11: 5.0,
    14: 50.0,
    15: 0.3,
}
ENTITIES = [("kiosk", "kiosk-pv-01"), ("kiosk", "kiosk-pv-02"), ("link", "wan-xa-phu-vang"), ("kiosk", "kiosk-x")]


def baseline(series_id: int, starts: list[float]) -> np.ndarray:
    return np.array([5.0, 6.0, 4.0, 5.0, 7.0, 5.0, 4.0, 6.0])[: len(starts) - series_id % 4]


def snapshot(alert: Alert) -> tuple[object, ...]:
    return (
        alert.fingerprint, alert.rule, alert.kind, alert.entity, alert.state, alert.pending_since, alert.starts_at,
        alert.ends_at, alert.value, alert.suppressed_by, alert.hold_until, alert.clearing_since, alert.flaps,
        alert.dropped, alert.symptom, alert.summary, sorted(alert.annotations.items()), alert.cond, alert.series_id,
    )  # fmt: skip


step = st.tuples(
    st.lists(st.tuples(st.sampled_from(SERIES), st.integers(-40, 0), st.sampled_from(VALUES)), max_size=10),
    st.lists(st.tuples(st.sampled_from(ENTITIES), st.sampled_from(["online", "offline"])), max_size=2),
    st.sampled_from([0, 1, 5, 20, 45, 90, 200, 400]),
    st.sampled_from(["batch", "batch", "tick", "both", "inventory", "quiet", "quiet"]),
)


@cache
def default_rules() -> tuple[Rule, ...]:
    """The default rules, read once: parsing their YAML took most of each example's time (rules are frozen)."""
    return tuple(load_rules())


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_batches_judged_over_arrays_give_the_transitions_of_one_sample_at_a_time(steps):
    inventory = parse_inventory(inventory_yaml(3))
    engines = [
        cls(list(default_rules()), inventory, start=T0, baseline=baseline, topology_hold_s=20.0)
        for cls in (Engine, ReferenceEngine)
    ]
    now = T0
    for rows, told, dt, what in steps:
        now += dt
        if what == "quiet":
            rows = [(sid, 0, value) for sid, value in HEALTHY.items()]
        ids = np.array([r[0] for r in rows], dtype=np.int32)
        ts = np.array([now + r[1] for r in rows], dtype=np.float64)
        values = np.array([r[2] for r in rows], dtype=np.float64)
        seen: dict[tuple[str, str], float] = {}
        for sid, t in zip(ids.tolist(), ts.tolist(), strict=True):
            key = KEYS.get(sid)
            if key is not None:
                seen[(key.kind, key.entity)] = max(t, seen.get((key.kind, key.entity), t))
        statuses = [StatusUpdate(kind, entity, now, status) for (kind, entity), status in told]
        outcomes = []
        for engine in engines:
            out = []
            if what == "inventory":
                engine.set_inventory(inventory)  # matched again, windows and liveness kept
            if what != "tick":  # quiet steps are batches too
                out += engine.observe(ids, ts, values, KEYS.get, statuses=statuses, seen=seen, now=now)
            if what in ("tick", "both"):
                out += engine.tick(now)
            outcomes.append([snapshot(a) for a in out])
        assert outcomes[0] == outcomes[1]
        assert [snapshot(a) for a in engines[0].alerts.values()] == [snapshot(a) for a in engines[1].alerts.values()]


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 0.5, 1.0, 5.0, np.inf, -np.inf, np.nan])
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPS), FLOATS, st.floats(allow_nan=False, allow_infinity=False)), min_size=1))
def test_every_operator_in_one_pass_as_compare_judges_one_value(rows):
    codes = np.array([op_code(op) for op, _, _ in rows])
    values = np.array([v for _, v, _ in rows])
    thresholds = np.array([t for _, _, t in rows])
    expected = [bool(compare(op, v, t)) for op, v, t in rows]
    assert breached(codes, values, thresholds).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([0.0, -0.0, 1.0, 2.5, 3000.0, np.inf, np.nan]), st.floats(-1e6, 1e6)), min_size=1
    ),
    st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_quantile_is_numpys_to_the_bit(values, q):
    a = np.array(values)
    with np.errstate(invalid="ignore"):  # inf - inf inside numpy's interpolation
        expected = float(np.quantile(a, q))
        got = quantile(a, q)
    assert np.array_equal([got], [expected], equal_nan=True) and np.signbit(got) == np.signbit(expected)


@given(
    st.lists(st.tuples(st.lists(st.integers(0, 50), max_size=8), st.booleans()), max_size=40),
    st.sampled_from([0.0, 5.0, 30.0]),
)
def test_a_buffer_keeps_what_one_concatenated_array_would(chunks, horizon):
    def step(kept: np.ndarray, ts: np.ndarray) -> np.ndarray:
        if kept.size and ts.size and ts[0] < kept[-1]:
            ts = ts[ts > kept[-1]]
        kept = np.concatenate((kept, ts))
        return kept[np.searchsorted(kept, kept[-1] - horizon, side="right") :] if kept.size else kept

    buffer, kept, pending = Buffer(horizon, capacity=2), np.empty(0), np.empty(0)
    for chunk, defer in chunks:
        ts = np.array(sorted(chunk), dtype=np.float64)
        if defer:  # the engine defers only samples newer than any it gave the buffer
            ts = ts[ts > max(kept[-1] if kept.size else -1.0, pending[-1] if pending.size else -1.0)]
            buffer.defer(ts.tolist(), (ts * 10).tolist())
            pending = np.concatenate((pending, ts))
            continue
        buffer.extend(ts, ts * 10)
        kept, pending = step(step(kept, pending), ts), np.empty(0)
        assert buffer.ts.tolist() == kept.tolist() and buffer.values.tolist() == (kept * 10).tolist()
    kept = step(kept, pending)
    assert buffer.ts.tolist() == kept.tolist() and buffer.values.tolist() == (kept * 10).tolist()


ZONES = ["Asia/Ho_Chi_Minh", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns"]
SAME_HOUR = {tz: SameHour(tz, is_holiday) for tz in ZONES}  # shared across examples: the caches fill up


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(ZONES),
    # around the changes of 2026 (spring and autumn) and a few random days, to the microsecond and below
    st.sampled_from([1774746000.0, 1792890000.0, 1775318400.0, 1791561600.0, 1767225600.0]),
    st.one_of(st.integers(-7200, 7200).map(float), st.floats(-7200, 7200)),
    st.sampled_from([1, 8]),
)
def test_same_hour_cached_per_quarter_answers_as_same_hour_of_week(tz, around, offset, weeks):
    at = around + offset
    assert SAME_HOUR[tz](at, weeks) == same_hour_of_week(at, weeks=weeks, tz=tz, is_holiday=is_holiday)


def test_a_burn_rate_that_starts_as_old_good_samples_leave_its_long_window():
    # No new bad sample when it fires: the 6 h window's old good samples expire while the one bad
    # sample is still in the 30 min window, so the pair can be passed over only while none is there.
    inventory = parse_inventory(inventory_yaml(1))
    engines = [cls(load_rules(), inventory, start=T0) for cls in (Engine, ReferenceEngine)]
    bad_at = T0 + 6 * 3600 - 500
    batches = [[(T0 + 10 * i, 1.0) for i in range(100)]]
    batches += [[(bad_at - 3000 + 60 * i, 1.0)] for i in range(14)]  # 14 good in the last hour, none in 30 min
    batches += [[(bad_at, 0.0)]] + [[(bad_at + 300 * k, 1.0)] for k in range(1, 6)]
    fired = []
    for rows in batches:
        now = max(t for t, _ in rows)
        ids = np.full(len(rows), 8, dtype=np.int32)
        ts, values = np.array([t for t, _ in rows]), np.array([v for _, v in rows])
        outs = [e.observe(ids, ts, values, KEYS.get, now=now) for e in engines]
        assert [snapshot(a) for a in outs[0]] == [snapshot(a) for a in outs[1]]
        fired += [(a.rule, a.state, now - bad_at) for a in outs[0] if a.rule == "service_availability_burn"]
    assert fired == [("service_availability_burn", "firing", 1500.0)]
