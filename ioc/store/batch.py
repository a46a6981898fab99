"""What the writer hands on: the stored samples, statuses and events of a commit, and each write's result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ioc.model import Event, Rejection, StatusUpdate

# NOTIFY channel the writer signals after every commit, for evaluators in other processes.
# Payload (JSON): {"min_ts": <unix s>, "max_ts": <unix s>, "series": [ids],
#                  "status": bool (status changes included), "events": bool}
# A batch of many series sends several, each naming at most 500 series and their own time range (the
# first says "status", the last "events"); min_ts and max_ts are null when it stored no sample.
COMMITTED_CHANNEL = "ioc_committed"


@dataclass(frozen=True)
class CommittedBatch:
    """Samples newly stored by one transaction (duplicates left out), in arrival order."""

    series_ids: np.ndarray  # int32
    ts: np.ndarray  # float64, Unix seconds
    values: np.ndarray  # float64
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    entities_seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (kind, id) -> last ts

    def __len__(self) -> int:
        return int(self.series_ids.shape[0])


@dataclass
class WriteResult:
    """One write: what was committed, how many samples stored and already stored, what was dead-lettered."""

    committed: CommittedBatch
    stored: int
    duplicates: int
    dead_letters: list[Rejection]


def empty_committed() -> CommittedBatch:
    return CommittedBatch(np.empty(0, np.int32), np.empty(0, np.float64), np.empty(0, np.float64))


def merge_committed(parts: list[CommittedBatch]) -> CommittedBatch:
    if not parts:
        return empty_committed()
    if len(parts) == 1:
        return parts[0]
    seen: dict[tuple[str, str], float] = {}
    for part in parts:
        for key, ts in part.entities_seen.items():
            seen[key] = max(ts, seen.get(key, ts))
    return CommittedBatch(
        np.concatenate([p.series_ids for p in parts]),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.values for p in parts]),
        [s for p in parts for s in p.statuses],
        [e for p in parts for e in p.events],
        seen,
    )


def merge_results(results: list[WriteResult]) -> WriteResult:
    return WriteResult(
        merge_committed([r.committed for r in results]),
        sum(r.stored for r in results),
        sum(r.duplicates for r in results),
        [d for r in results for d in r.dead_letters],
    )
