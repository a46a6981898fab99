"""What decoding one MQTT message yields: samples in columns, statuses, events and rejected parts."""

from __future__ import annotations

from dataclasses import dataclass, field

from ioc.model import MAX_SAMPLES_PER_MESSAGE, Event, Labels, Rejection, StatusUpdate

# A message with thousands of bad samples yields one dead letter per reason, naming the first few.
_MAX_DETAILS = 20


@dataclass(slots=True)
class Decoded:
    """One message taken apart; samples are kept as parallel columns to keep per-sample work small."""

    topic: str
    kind: str
    entity: str
    received_at: float
    payload: bytes = b""
    metrics: list[str] = field(default_factory=list)
    labels: list[Labels] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail) of each bad part
    retained: bool = False  # delivered as the broker's retained message: statuses are state, not news

    def __len__(self) -> int:
        return len(self.values)

    def add(self, metric: str, labels: Labels, ts: float, value: float) -> None:
        self.metrics.append(metric)
        self.labels.append(labels)
        self.ts.append(ts)
        self.values.append(value)

    def reject(self, reason: str, detail: str) -> None:
        self.problems.append((reason, detail))

    def drop_samples(self) -> None:
        self.metrics.clear()
        self.labels.clear()
        self.ts.clear()
        self.values.clear()

    def enforce_sample_limit(self) -> None:
        """A message over the contract's sample limit is refused whole, with that as its only reason."""
        if len(self) > MAX_SAMPLES_PER_MESSAGE:
            count = len(self)
            self.drop_samples()
            self.problems.clear()
            self.reject(
                "too_many_samples", f"{count} samples in one message, at most {MAX_SAMPLES_PER_MESSAGE} allowed"
            )

    @property
    def rejections(self) -> list[Rejection]:
        """The problems as dead letters: one per reason, with the whole message as payload."""
        by_reason: dict[str, list[str]] = {}
        for reason, detail in self.problems:
            by_reason.setdefault(reason, []).append(detail)
        out = []
        for reason, details in by_reason.items():
            text = "; ".join(details[:_MAX_DETAILS])
            if len(details) > _MAX_DETAILS:
                text += f"; and {len(details) - _MAX_DETAILS} more"
            out.append(Rejection(self.topic, self.payload, reason, text))
        return out
