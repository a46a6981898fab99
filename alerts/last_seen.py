"""What each entity last showed of life, in arrays so that a batch updates and judges them at once."""

from __future__ import annotations

import numpy as np

EntityKey = tuple[str, str]  # (kind, id)


def _none(value: float) -> float | None:
    return None if np.isnan(value) else value


class LastSeen:
    """Per entity: `last_seen`, the last sample or `online` (or when watching began); `offline_at`, an
    `offline` that is still the latest word; `heard`, the newest sample this engine itself received
    (real evidence, not the start-up assumption). NaN stands for none."""

    def __init__(self) -> None:
        self.slots: dict[EntityKey, int] = {}
        self.keys: list[EntityKey] = []
        self.last_seen = np.empty(0)
        self.offline_at = np.empty(0)
        self.heard = np.empty(0)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: EntityKey) -> bool:
        return key in self.slots

    def slot(self, key: EntityKey, last_seen: float | None = None) -> int:
        """The entity's slot; a new entity starts as last seen at `last_seen`."""
        found = self.slots.get(key)
        if found is not None:
            return found
        self.slots[key] = slot = len(self.keys)
        self.keys.append(key)
        if slot >= self.last_seen.size:
            grow = max(64, self.last_seen.size)
            self.last_seen, self.offline_at, self.heard = (
                np.concatenate((a, np.full(grow, np.nan))) for a in (self.last_seen, self.offline_at, self.heard)
            )
        self.last_seen[slot] = np.nan if last_seen is None else last_seen
        return slot

    def get(self, key: EntityKey) -> tuple[float | None, float | None] | None:
        """(last_seen, offline_at), or None for an entity never heard of."""
        slot = self.slots.get(key)
        if slot is None:
            return None
        return _none(float(self.last_seen[slot])), _none(float(self.offline_at[slot]))

    def heard_at(self, key: EntityKey) -> float | None:
        slot = self.slots.get(key)
        return None if slot is None else _none(float(self.heard[slot]))

    def set(self, key: EntityKey, last_seen: float | None, offline_at: float | None) -> None:
        slot = self.slot(key)
        self.last_seen[slot] = np.nan if last_seen is None else last_seen
        self.offline_at[slot] = np.nan if offline_at is None else offline_at

    def saw(self, seen: dict[EntityKey, float]) -> np.ndarray:
        """Samples up to these times arrived (one entry per entity); returns the entities' slots.

        Later than what was known moves `last_seen` on and ends an `offline` that came before it."""
        found = [self.slots.get(key) for key in seen]
        if None in found:
            found = [self.slot(key, last) for key, last in seen.items()]
        slots = np.array(found, dtype=np.intp)
        last = np.fromiter(seen.values(), dtype=np.float64, count=len(seen))
        self.last_seen[slots] = np.fmax(self.last_seen[slots], last)  # NaN (never seen) gives way, else the later
        heard = self.heard[slots]
        self.heard[slots] = np.where(heard > last, heard, last)
        offline = self.offline_at[slots]
        self.offline_at[slots] = np.where(last > offline, np.nan, offline)
        return slots

    def status(self, key: EntityKey, status: str, at: float) -> int:
        """The status topic said `online` or `offline` at `at`; returns the entity's slot."""
        slot = self.slot(key)
        if status == "offline":
            self.offline_at[slot] = at
        else:
            self.offline_at[slot] = np.nan
            known = _none(float(self.last_seen[slot]))
            self.last_seen[slot] = max(known or at, at)
        return slot

    def suspects(self, slots: np.ndarray, heartbeats: np.ndarray, now: float, sight: float) -> np.ndarray:
        """Which entities may be down now: silent past their heartbeat (counted from `sight` at the earliest,
        see `Liveness.resume`), never seen, or with an `offline` on record. `detectors.heartbeat.liveness`
        has the last word on each; the others are up."""
        silent = ~(now - np.fmax(self.last_seen[slots], sight) <= heartbeats)
        return silent | ~np.isnan(self.offline_at[slots])
