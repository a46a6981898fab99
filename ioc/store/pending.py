"""A pending batch: everything decoded from a run of messages, waiting to be written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from ioc.model import Event, Labels, Rejection, StatusUpdate
from ioc.store.prepared import Prepared

SeriesTuple = tuple[str, str, str, Labels]  # kind, entity, metric, labels


@dataclass
class PendingBatch:
    """Everything decoded from a run of messages, waiting to be written in one transaction."""

    keys: list[SeriesTuple] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    # Retained statuses (sent by the broker on subscribe): stored only when they differ from the stored one.
    retained_statuses: list[StatusUpdate] = field(default_factory=list)
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    # The samples as arrays, COPY data and rollups, computed ahead by `BatchWriter.prepare` (optional).
    prepared: Prepared | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.values)

    def seen(self, kind: str, entity: str, first: float, last: float) -> None:
        key = (kind, entity)
        old = self.last_seen.get(key)
        if old is None:
            self.first_seen[key] = first
            self.last_seen[key] = last
        else:
            if first < self.first_seen[key]:
                self.first_seen[key] = first
            if last > old:
                self.last_seen[key] = last

    def to_bytes(self) -> bytes:
        """A self-contained encoding, for the local spool."""
        return orjson.dumps(
            {
                "keys": [[k, e, m, [list(p) for p in labels]] for k, e, m, labels in self.keys],
                "ts": self.ts,
                "values": self.values,
                "statuses": [[s.kind, s.entity, s.ts, s.status] for s in self.statuses],
                "events": [[e.kind, e.entity, e.ts, e.type, e.severity, e.message, e.attrs] for e in self.events],
                "rejections": [[r.topic, r.payload.hex(), r.reason, r.detail] for r in self.rejections],
                "seen": [[k, e, self.first_seen[(k, e)], t] for (k, e), t in self.last_seen.items()],
                "retained": [[s.kind, s.entity, s.ts, s.status] for s in self.retained_statuses],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PendingBatch:
        doc = orjson.loads(data)
        batch = cls(
            keys=[(k, e, m, tuple((a, b) for a, b in labels)) for k, e, m, labels in doc["keys"]],
            ts=doc["ts"],
            values=doc["values"],
            statuses=[StatusUpdate(*s) for s in doc["statuses"]],
            events=[Event(*e) for e in doc["events"]],
            rejections=[Rejection(t, bytes.fromhex(p), r, d) for t, p, r, d in doc["rejections"]],
            retained_statuses=[StatusUpdate(*s) for s in doc.get("retained", [])],
        )
        for k, e, first, last in doc["seen"]:
            batch.seen(k, e, first, last)
        return batch
