"""E-government KPIs (Decision 766/QĐ-TTg, contract section 9) from counter increases: pure, no store.

A counter's increase is the sum of the differences between consecutive samples, a drop being a reset
after which the new value is the increase (as Prometheus `increase()` reads it, without extrapolation).
Each difference belongs to the time of the later sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

COUNTERS = (
    "dossiers_received_total",
    "dossiers_online_total",
    "dossiers_done_total",
    "dossiers_done_ontime_total",
    "payments_online_total",
    "satisfaction_votes_total",
    "satisfaction_good_total",
)
GAUGES = ("dossiers_overdue",)
KPI_NAMES = (
    "dossiers_received",
    "online_share_pct",
    "ontime_share_pct",
    "dossiers_overdue",
    "online_payment_share_pct",
    "satisfaction_pct",
)
# share KPI: (numerator counter, denominator counter)
SHARES: dict[str, tuple[str, str]] = {
    "online_share_pct": ("dossiers_online_total", "dossiers_received_total"),
    "ontime_share_pct": ("dossiers_done_ontime_total", "dossiers_done_total"),
    "online_payment_share_pct": ("payments_online_total", "dossiers_done_total"),
    "satisfaction_pct": ("satisfaction_good_total", "satisfaction_votes_total"),
}


def bases_of(increases: Mapping[str, float]) -> dict[str, float]:
    """How many dossiers or votes each share KPI is computed over: its denominator's increase."""
    return {name: float(increases.get(den, 0.0)) for name, (_, den) in SHARES.items()}


def deltas(values: np.ndarray, previous: float | None = None) -> np.ndarray:
    """Each sample's increase over the one before it (`previous`: the last sample before these); a drop is a
    reset, whose increase is the new value. The first sample without a `previous` adds nothing."""
    if values.size == 0:
        return values.astype(np.float64)
    before = np.concatenate(([np.nan if previous is None else previous], values[:-1]))
    diff = values - before
    out = np.where(diff < 0, values, diff)
    return np.where(np.isnan(before), 0.0, out)


def increase(ts: np.ndarray, values: np.ndarray, edges: np.ndarray, previous: float | None = None) -> np.ndarray:
    """The increase within each period [edges[i], edges[i+1]) of one counter's samples (time order)."""
    d = deltas(values, previous)
    which = np.searchsorted(edges, ts, side="right") - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    return np.bincount(which[inside], weights=d[inside], minlength=len(edges) - 1)


def share(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else round(100.0 * numerator / denominator, 2)


@dataclass(frozen=True, slots=True)
class KpiInputs:
    """Increases of each counter per period, and the gauge's last value per period (None: no sample yet)."""

    increases: Mapping[str, np.ndarray]
    overdue: list[float | None]


def kpis_of(increases: Mapping[str, float], overdue: float | None) -> dict[str, float | None]:
    values: dict[str, float | None] = {"dossiers_received": round(increases.get("dossiers_received_total", 0.0), 3)}
    for name, (num, den) in SHARES.items():
        values[name] = share(increases.get(num, 0.0), increases.get(den, 0.0))
    values["dossiers_overdue"] = overdue
    return {k: values[k] for k in KPI_NAMES}


def compute(inputs: KpiInputs) -> tuple[dict[str, float | None], list[dict[str, float | None]]]:
    """The KPIs over the whole range and per period."""
    n = len(inputs.overdue)
    totals = {name: float(np.sum(v)) for name, v in inputs.increases.items()}
    last = next((v for v in reversed(inputs.overdue) if v is not None), None)
    series = [kpis_of({name: float(v[i]) for name, v in inputs.increases.items()}, inputs.overdue[i]) for i in range(n)]
    return kpis_of(totals, last), series
