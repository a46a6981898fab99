"""What the writer hands on after a batch commits: the stored samples, statuses and events."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ioc.model import Event, StatusUpdate

# NOTIFY channel the writer signals after every commit, for evaluators in other processes.
# Payload (JSON): {"min_ts": <unix s>, "max_ts": <unix s>, "series": [ids] or null when too many,
#                  "status": bool (status changes included), "events": bool}
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
