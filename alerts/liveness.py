"""Liveness: which entities' `down` rules may hold, from heartbeats (the last sample or `online`) and
`offline` statuses, judged over arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

from alerts.alert import FIRING, Alert
from alerts.detectors.heartbeat import liveness
from alerts.detectors.threshold import INACTIVE, Condition
from alerts.evaluation.batch import Pair, Pairs
from alerts.last_seen import EntityKey, LastSeen
from alerts.rule_types import DownRule
from ioc.inventory import Entity
from ioc.model import StatusUpdate


class EntityPairs:
    """Per entity (its `LastSeen` slot): the pairs of the `down` rules that match it, -1 where one does not."""

    def __init__(self, rules: int) -> None:
        self.columns = np.full((0, rules), -1, dtype=np.intp)
        self.matched = np.empty(0, dtype=bool)

    def grow(self, size: int) -> None:
        if size > self.matched.size:
            more = max(size - self.matched.size, 64, self.matched.size)
            self.columns = np.vstack((self.columns, np.full((more, self.columns.shape[1]), -1, dtype=np.intp)))
            self.matched = np.concatenate((self.matched, np.zeros(more, dtype=bool)))

    def candidates(
        self, slots: np.ndarray, pairs: Pairs, seen: LastSeen, now: float, sight: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Of these entities' pairs, (pair, entity slot) of those that may be down or have an alert open,
        in entity order then rule order. The others are up with nothing open: nothing to do."""
        columns = self.columns[slots]
        row, column = np.nonzero(columns >= 0)
        pair = columns[row, column]
        entity = slots[row]
        hit = seen.suspects(entity, pairs.heartbeat[pair], now, sight) | pairs.open[pair]
        return pair[hit], entity[hit]


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


# How long after alerting regains sight the store may still be taking in what was sent while it was
# blind (the ingest's spool replay): at most this long does such a backlog keep the silence clocks back.
CATCH_UP_MAX_S = 600.0


class Liveness:
    """What each entity last showed of life, and the conditions of the `down` rules matched to it.

    Alerting's own blindness is not the entities' silence: from `sight` (when this engine was built, or
    last regained sight of the store: `resume`) every entity gets a full heartbeat before its silence may
    open a `down` alert, and while the batches that come in still hold only samples taken before that
    moment (the ingest replaying its spool, ahead of the live data), `sight` moves on with each. An
    `offline` still counts at once, and an alert already open goes on by what the entity really sent."""

    def __init__(self, rules: list[DownRule], start: float) -> None:
        self.rules, self.start = rules, start
        self.seen = LastSeen()
        self.pairs = EntityPairs(len(rules))
        self._entities: Mapping[EntityKey, Entity] = {}
        self.sight = start  # silence counts from here at the earliest
        self._resumed: float | None = start  # catching up with what the store took in meanwhile, since then

    def resume(self, now: float) -> None:
        """Alerting sees the store again after being blind to it (a lost connection, a failed or late
        round): every entity's silence clock restarts from `now`."""
        self.sight = max(self.sight, now)
        self._resumed = now

    def _catch_up(self, seen: dict[EntityKey, float] | None, now: float) -> None:
        """A batch that holds only samples taken before sight was regained is the backlog of the blind
        time (the spool replayed ahead of the live data): the present is not in sight yet."""
        if self._resumed is None or not seen:
            return
        if max(seen.values()) >= self._resumed or now - self._resumed > CATCH_UP_MAX_S:
            self._resumed = None  # live data: caught up
        else:
            self.sight = max(self.sight, now)

    def set_inventory(self, entities: Mapping[EntityKey, Entity]) -> None:
        """Match every entity again (labels and heartbeats come from the inventory); watch the new ones
        from the start."""
        self._entities = entities
        self.pairs = EntityPairs(len(self.rules))
        for key in entities:
            self.seen.slot(key, self.start)

    def restore(self, rows: Iterable[tuple[str, str, float | None, float | None]]) -> None:
        """What was known of each entity's liveness before a restart."""
        for kind, entity_id, last_seen, offline_at in rows:
            if (kind, entity_id) in self._entities or last_seen is not None:
                self.seen.set((kind, entity_id), last_seen if last_seen is not None else self.start, offline_at)

    def heard(self, seen: dict[EntityKey, float] | None, statuses: Iterable[StatusUpdate], now: float) -> np.ndarray:
        """Take in a batch's newest sample per entity and its statuses (arrived `now`); returns the
        entities' slots, each once, in the order first heard of."""
        self._catch_up(seen, now)
        touched = self.seen.saw(seen) if seen else np.empty(0, dtype=np.intp)
        told = [self.seen.status((s.kind, s.entity), s.status, s.ts) for s in statuses]
        if told:
            touched = np.concatenate((touched, told))
            _, first = np.unique(touched, return_index=True)
            touched = touched[np.sort(first)]
        return touched

    def vouches(self, kind: str, entity_id: str, now: float) -> bool:
        """The entity reported within its own interval (1.5x, for jitter) and is not offline: real
        evidence it is up, not the start-up assumption."""
        entity = self._entities.get((kind, entity_id))
        live = self.seen.get((kind, entity_id))
        heard = self.seen.heard_at((kind, entity_id))
        if entity is None or entity.interval_s is None or live is None or heard is None:
            return False
        return live[1] is None and now - heard <= 1.5 * entity.interval_s

    def judge(
        self,
        slots: np.ndarray,
        now: float,
        pairs: Pairs,
        alerts: Mapping[str, Alert],
        match: Callable[[int], None],
    ) -> Iterator[tuple[Pair, Condition, str | None]]:
        """The `down` conditions of these entities (slots) that change something: Python only for those
        that may be down or have an alert open. `match(slot)` matches an entity not matched yet."""
        if not self.rules or not slots.size:
            return
        self.pairs.grow(len(self.seen))
        fresh = ~self.pairs.matched[slots]
        if fresh.any():
            for slot in slots[fresh].tolist():
                match(slot)
        found, entities = self.pairs.candidates(slots, pairs, self.seen, now, self.sight)
        for p, slot in zip(found.tolist(), entities.tolist(), strict=True):
            pair = pairs.items[p]
            open_alert = alerts.get(pair.fingerprint)
            state = liveness(
                now=now,
                last_seen=_none(self.seen.last_seen[slot]),
                offline_at=_none(self.seen.offline_at[slot]),
                heartbeat=float(pairs.heartbeat[p]),
                sight=self.sight if open_alert is None else None,  # blindness is no evidence of life either
            )
            if state.down:
                since = state.since if state.since is not None else now
                kept = open_alert.cond.since if open_alert is not None else None
                cond = Condition(FIRING, kept if kept is not None else since, 1.0)
            else:
                cond = Condition(INACTIVE, None, 0.0)
            if open_alert is None and not state.down:
                continue
            yield pair, cond, state.reason
