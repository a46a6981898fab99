"""The mute stage: silences and maintenance windows (from the store) by alert, time intervals by route."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.routes.time_intervals import TimeInterval
from alerts.routes.tree import Route
from alerts.silences import MaintenanceWindow, Silence, muted_by


class Muter:
    def __init__(self, intervals: Mapping[str, tuple[TimeInterval, ...]] | None = None):
        self.silences: list[Silence] = []
        self.windows: list[MaintenanceWindow] = []
        self.intervals = dict(intervals or {})

    def muted(self, labels: Mapping[str, str], now: float) -> str | None:
        """`silence#ID` or `maintenance#ID` muting an alert with these labels, else None."""
        return muted_by(labels, self.silences, self.windows, now)

    def _in(self, name: str, now: float) -> bool:
        return any(interval.contains(now) for interval in self.intervals.get(name, ()))

    def route_muted(self, route: Route, now: float) -> bool:
        """Inside one of the route's mute_time_intervals, or outside all its active_time_intervals."""
        if any(self._in(name, now) for name in route.mute_time_intervals):
            return True
        return bool(route.active_time_intervals) and not any(self._in(n, now) for n in route.active_time_intervals)
