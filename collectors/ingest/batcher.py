"""Gathers decoded messages into one pending batch, flushed on size or age; never splits a message."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat

from collectors.decoders import Decoded
from collectors.ingest.mqtt_source import Delivery
from ioc.store.writer import PendingBatch


class Batcher:
    def __init__(self, max_samples: int, max_age_s: float, clock: Callable[[], float]):
        self.max_samples = max_samples
        self.max_age_s = max_age_s
        self._clock = clock
        self._reset()

    def _reset(self) -> None:
        self.batch = PendingBatch()
        self.deliveries: list[Delivery] = []
        self.received_at: list[float] = []
        self.messages = 0
        self.started: float | None = None

    def add(self, decoded: Decoded, delivery: Delivery | None) -> None:
        if self.started is None:
            self.started = self._clock()
        batch = self.batch
        n = len(decoded)
        if n:
            kind, entity = decoded.kind, decoded.entity
            # the key tuples are made in C, not by a Python loop
            batch.keys += zip(repeat(kind, n), repeat(entity, n), decoded.metrics, decoded.labels, strict=True)
            batch.ts += decoded.ts
            batch.values += decoded.values
            batch.seen(kind, entity, min(decoded.ts), max(decoded.ts))
        if decoded.retained:  # the broker's stored state, not a sign of life: last_seen stays
            batch.retained_statuses += decoded.statuses
        else:
            for status in decoded.statuses:
                batch.statuses.append(status)
                batch.seen(status.kind, status.entity, status.ts, status.ts)
        for event in decoded.events:
            batch.events.append(event)
            batch.seen(event.kind, event.entity, event.ts, event.ts)
        if decoded.problems:
            batch.rejections.extend(decoded.rejections)
        if delivery is not None:
            self.deliveries.append(delivery)
        self.received_at.append(decoded.received_at)
        self.messages += 1

    def __len__(self) -> int:
        return self.messages

    def full(self, factor: int = 1) -> bool:
        """At least `factor` times the batch size (a backlog makes batches larger)."""
        return len(self.batch) >= self.max_samples * factor

    def due_in(self) -> float:
        """Seconds until the batch is old enough to flush (0 when due; the full age when empty)."""
        if self.started is None:
            return self.max_age_s
        return max(0.0, self.started + self.max_age_s - self._clock())

    def take(self) -> tuple[PendingBatch, list[Delivery], list[float]]:
        out = (self.batch, self.deliveries, self.received_at)
        self._reset()
        return out
