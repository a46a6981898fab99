"""Alert evaluation benchmark: the engine alone, CPU µs per sample; one command, prints figures (not a test).

    .venv/bin/python bench/alert_eval.py [--samples 20000] [--repeats 3]

10,000 series under the shipped rules (`alerts/rules/*.yaml`), fed as the ingest writer feeds the alert
service: committed batches of 100, 1,000 and 5,000 samples, each made of whole messages (one entity's
metrics at one time, as collectors publish them), with the batch's last-seen per entity. Three
inventories of 10,000 series each:
- threshold: 2,125 kiosks x 4 threshold metrics and 500 links x 3 (no window to keep);
- window: 3,334 services x `response_ms` (p95 over 5 min), `up` (SLO burn rate, 6 h) and
  `dossiers_overdue` (rate over 6 h), their windows primed as after a restart;
- mix: 800 kiosks x 10 metrics, 200 links x 6, 80 services x 10, kiosks behind their site's link,
  with the anomaly rule fed a baseline; 1% of the entities faulty (paper out, hot, lossy, slow), so
  some alerts are pending or firing all along, as in production.
Each figure is the median over --repeats runs of CPU time / samples, over --samples samples per run,
after one warm-up cycle of every series (rule matching is a one-off, not counted).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.engine import Engine
from alerts.rules import load_rules
from ioc.inventory import Entity, Inventory, Site
from ioc.store.series import SeriesKey

T0 = 1_800_000_000.0
INTERVAL_S = {"kiosk": 60.0, "link": 15.0, "service": 30.0}

# metric -> (healthy value, noise, value while faulty or None); counters are ("counter", rate per s).
Value = tuple[float, float, float | None]
METRICS: dict[str, dict[str, Value]] = {
    "kiosk": {
        "printer_ok": (1.0, 0.0, 0.0),
        "printer_paper_pct": (60.0, 10.0, 4.0),
        "disk_free_pct": (60.0, 1.0, None),
        "temp_c": (50.0, 2.0, 82.0),
        "cpu_pct": (30.0, 5.0, None),
        "mem_pct": (45.0, 3.0, None),
        "touch_ok": (1.0, 0.0, None),
        "queue_waiting": (5.0, 2.0, None),
        "wait_time_s": (600.0, 100.0, None),
        "tickets_issued_total": (-0.01, 0.0, None),
    },
    "link": {
        "up": (1.0, 0.0, None),
        "loss_pct": (0.05, 0.02, 12.0),
        "rtt_ms": (15.0, 1.0, 260.0),
        "jitter_ms": (1.0, 0.2, None),
        "rx_bps": (4e7, 1e6, None),
        "tx_bps": (2e7, 1e6, None),
    },
    "service": {
        "response_ms": (300.0, 50.0, 5200.0),
        "up": (1.0, 0.0, None),
        "dossiers_overdue": (10.0, 0.0, None),
        "error_rate_pct": (0.3, 0.1, 11.0),
        "tls_days_left": (60.0, 0.0, None),
        "http_status": (200.0, 0.0, None),
        "dossiers_received_total": (-0.02, 0.0, None),
        "dossiers_done_total": (-0.02, 0.0, None),
        "dossiers_online_total": (-0.01, 0.0, None),
        "payments_online_total": (-0.005, 0.0, None),
    },
}


@dataclass
class Setup:
    inventory: Inventory
    keys: dict[int, SeriesKey]
    entity_series: list[np.ndarray]  # entity index -> its series ids
    entity_key: list[tuple[str, str]]
    interval: np.ndarray  # per entity
    faulty: np.ndarray  # per entity
    series_value: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (sids, ts, faulty) -> values


def build(layout: list[tuple[str, int, tuple[str, ...]]], *, sites: int, fault_share: float, seed: int) -> Setup:
    """layout: (kind, how many entities, their metrics); kiosks depend on their site's link when there are links."""
    rng = np.random.default_rng(seed)
    site_list = tuple(Site(f"s{i}", f"Xã {i}") for i in range(sites))
    has_links = any(kind == "link" for kind, _, _ in layout)
    entities: list[Entity] = []
    keys: dict[int, SeriesKey] = {}
    entity_series: list[np.ndarray] = []
    base, noise, bad = [], [], []
    sid = 1
    for kind, count, metrics in layout:
        for i in range(count):
            site = f"s{i % sites}"
            depends = (f"link/wan-{i % sites}",) if kind == "kiosk" and has_links else ()
            entity_id = f"wan-{i}" if kind == "link" else f"{kind}-{i}"
            entities.append(
                Entity(kind, entity_id, f"{kind} {i}", site=site, depends_on=depends, interval_s=INTERVAL_S[kind])
            )
            ids = []
            for metric in metrics:
                healthy, spread, faulty_value = METRICS[kind][metric]
                keys[sid] = SeriesKey(kind, entity_id, metric)
                base.append(healthy)
                noise.append(spread)
                bad.append(np.nan if faulty_value is None else faulty_value)
                ids.append(sid)
                sid += 1
            entity_series.append(np.array(ids, dtype=np.int32))
    base_a, noise_a, bad_a = np.array([0.0, *base]), np.array([0.0, *noise]), np.array([np.nan, *bad])
    faulty = rng.random(len(entities)) < fault_share

    def series_value(sids: np.ndarray, ts: np.ndarray, is_faulty: np.ndarray) -> np.ndarray:
        b = base_a[sids]
        values = np.where(b < 0, -b * (ts - T0 + 1e6), b + noise_a[sids] * rng.standard_normal(sids.size))
        broken = is_faulty & ~np.isnan(bad_a[sids])
        return np.where(broken, bad_a[sids], values)

    return Setup(
        Inventory((), site_list, tuple(entities)),
        keys,
        entity_series,
        [(e.kind, e.id) for e in entities],
        np.array([e.interval_s or 60.0 for e in entities]),
        faulty,
        series_value,
    )


def messages(setup: Setup, seed: int) -> Iterator[tuple[float, int]]:
    """(time, entity index) of every message, in time order, forever: each entity every interval, at its phase."""
    rng = np.random.default_rng(seed)
    phase = rng.random(setup.interval.size) * setup.interval
    start = T0
    while True:
        k = np.ceil((start - T0 - phase) / setup.interval)
        times, who = [], []
        for step in range(4):  # 60 s chunks hold at most 4 reports of a 15 s entity
            at = T0 + phase + (k + step) * setup.interval
            inside = at < start + 60.0
            times.append(at[inside])
            who.append(np.flatnonzero(inside))
        t_all, e_all = np.concatenate(times), np.concatenate(who)
        order = np.lexsort((e_all, t_all))
        yield from zip(t_all[order].tolist(), e_all[order].tolist(), strict=True)
        start += 60.0


@dataclass
class Batch:
    ids: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    seen: dict[tuple[str, str], float]
    now: float


def batches(setup: Setup, size: int, seed: int) -> Iterator[Batch]:
    """Whole messages, until a batch holds at least `size` samples."""
    stream = messages(setup, seed)
    while True:
        ids, ts, faulty = [], [], []
        seen: dict[tuple[str, str], float] = {}
        n = 0
        while n < size:
            t, e = next(stream)
            series = setup.entity_series[e]
            ids.append(series)
            ts.append(np.full(series.size, t))
            faulty.append(np.full(series.size, setup.faulty[e]))
            key = setup.entity_key[e]
            seen[key] = max(t, seen.get(key, t))
            n += series.size
        ids_a, ts_a = np.concatenate(ids), np.concatenate(ts)
        values = setup.series_value(ids_a, ts_a, np.concatenate(faulty))
        yield Batch(ids_a, ts_a, values, seen, float(ts_a.max()) + 0.5)


def baseline(series_id: int, starts: list[float]) -> np.ndarray:
    """The same hour in past weeks, as the store would answer for a queue of about 5."""
    return np.array([5.0, 6.0, 4.0, 5.0, 7.0, 5.0, 4.0, 6.0])[: len(starts)]


def make_engine(setup: Setup) -> Engine:
    engine = Engine(load_rules(), setup.inventory, start=T0, baseline=baseline, topology_hold_s=20.0)
    horizons = engine.window_metrics()
    rng = np.random.default_rng(7)
    for e, series in enumerate(setup.entity_series):
        for sid in series.tolist():
            key = setup.keys[sid]
            horizon = horizons.get(key.metric)
            if horizon is None:
                continue
            ts = np.arange(T0 - horizon, T0, setup.interval[e]) + rng.random() * setup.interval[e]
            ts = ts[ts < T0]
            ids = np.full(ts.size, sid, dtype=np.int32)
            engine.prime(sid, key, ts, setup.series_value(ids, ts, np.zeros(ts.size, dtype=bool)))
    return engine


def run(setup: Setup, size: int, samples: int, repeats: int) -> list[float]:
    """µs of CPU per sample, one figure per repeat."""
    engine = make_engine(setup)
    feed = batches(setup, size, seed=size)
    last_tick = T0

    def observe(batch: Batch) -> float:
        nonlocal last_tick
        began = time.process_time()
        engine.observe(batch.ids, batch.ts, batch.values, setup.keys.get, seen=batch.seen, now=batch.now)
        spent = time.process_time() - began
        if batch.now - last_tick >= 1.0:  # the service's tick (not counted): `for` durations run out
            engine.tick(batch.now)
            last_tick = batch.now
        return spent

    unseen = set(setup.keys)
    while unseen:  # every series once: rules matched, windows in place
        batch = next(feed)
        observe(batch)
        unseen.difference_update(batch.ids.tolist())
    observe(next(feed))  # and the batch after the last new series (an engine may index them then)
    figures = []
    for _ in range(repeats):
        cpu, n = 0.0, 0
        while n < samples:
            batch = next(feed)
            cpu += observe(batch)
            n += batch.ids.size
        figures.append(cpu / n * 1e6)
    return figures


LAYOUTS: dict[str, tuple[list[tuple[str, int, tuple[str, ...]]], float]] = {
    "threshold": (
        [
            ("link", 500, ("up", "loss_pct", "rtt_ms")),
            ("kiosk", 2125, ("printer_ok", "printer_paper_pct", "disk_free_pct", "temp_c")),
        ],
        0.0,
    ),
    "window": ([("service", 3334, ("response_ms", "up", "dossiers_overdue"))], 0.0),
    "mix": (
        [
            ("link", 200, tuple(METRICS["link"])),
            ("kiosk", 800, tuple(METRICS["kiosk"])),
            ("service", 80, tuple(METRICS["service"])),
        ],
        0.01,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20_000, help="samples timed per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="100,1000,5000", help="batch sizes, comma-separated")
    parser.add_argument("--only", choices=sorted(LAYOUTS), help="one inventory only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"CPU µs per sample, median of {args.repeats} runs of {args.samples} samples; {len(load_rules())} shipped rules"
    )
    print(f"{'inventory':<10} {'series':>7} " + " ".join(f"{f'batch {s}':>11}" for s in sizes))
    for name, (layout, fault_share) in LAYOUTS.items():
        if args.only and name != args.only:
            continue
        setup = build(layout, sites=200, fault_share=fault_share, seed=1)
        cells = []
        for size in sizes:
            figures = run(setup, size, args.samples, args.repeats)
            cells.append(f"{np.median(figures):>8.2f} µs")
        print(f"{name:<10} {len(setup.keys):>7} " + " ".join(f"{c:>11}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
