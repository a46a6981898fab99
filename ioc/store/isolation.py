"""Bad-batch isolation: a batch the store refuses for good is split until the refused rows stand
alone; they are dead-lettered with the store's reason, and the rest of the batch is stored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import orjson

from ioc.model import Rejection
from ioc.store.batch import WriteResult, empty_committed, merge_results
from ioc.store.pending import PendingBatch

log = logging.getLogger(__name__)


class Refused(Exception):
    """The store refused a write for good (no retry can help); `error` is what it raised."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


# Writes one part in a transaction of its own: raises Refused for a permanent error, anything else
# (a temporary error) propagates and ends the isolation, for the caller to retry the whole batch.
Attempt = Callable[[PendingBatch], WriteResult]


def isolate(batch: PendingBatch, attempt: Attempt) -> WriteResult:
    """Write the samples, each status, event and dead letter apart, splitting what is refused."""
    parts: list[PendingBatch] = []
    if len(batch):
        parts.append(replace(batch, statuses=[], events=[], rejections=[], retained_statuses=[]))
    parts += [PendingBatch(statuses=[s]) for s in batch.statuses]
    parts += [PendingBatch(retained_statuses=[s]) for s in batch.retained_statuses]
    parts += [PendingBatch(events=[e]) for e in batch.events]
    parts += [PendingBatch(rejections=[r]) for r in batch.rejections]
    if not len(batch) and batch.last_seen:
        parts.append(PendingBatch(first_seen=batch.first_seen, last_seen=batch.last_seen))
    return merge_results([_write_or_split(part, attempt) for part in parts])


def _write_or_split(part: PendingBatch, attempt: Attempt) -> WriteResult:
    try:
        return attempt(part)
    except Refused as refused:
        if len(part) > 1:
            half = len(part) // 2
            halves = (_slice(part, 0, half), _slice(part, half, len(part)))
            return merge_results([_write_or_split(h, attempt) for h in halves])
        return _dead_letter_refused(part, refused.error, attempt)


def _slice(batch: PendingBatch, start: int, stop: int) -> PendingBatch:
    """Samples [start, stop) alone, with their entities' first and last seen."""
    part = PendingBatch(keys=batch.keys[start:stop], ts=batch.ts[start:stop], values=batch.values[start:stop])
    for kind, entity, _, _ in part.keys:
        key = (kind, entity)
        part.first_seen[key] = batch.first_seen.get(key, batch.last_seen.get(key, 0.0))
        part.last_seen[key] = batch.last_seen.get(key, 0.0)
    return part


def _dead_letter_refused(part: PendingBatch, exc: BaseException, attempt: Attempt) -> WriteResult:
    """A part of one item the store refuses: recorded as a dead letter (reason `store_rejected`)."""
    if part.rejections:
        log.error("dead letter %r could not be stored either: %s", part.rejections[0].reason, exc)
        return WriteResult(empty_committed(), 0, 0, [])
    found = _refused_item(part)
    if found is None:
        log.error("entity upkeep refused by the store: %s", exc)
        return WriteResult(empty_committed(), 0, 0, [])
    topic, item = found
    payload = orjson.dumps(item, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
    detail = f"the store refused it: {type(exc).__name__}: {str(exc).strip()[:500]}"
    return _write_or_split(PendingBatch(rejections=[Rejection(topic, payload, "store_rejected", detail)]), attempt)


def _refused_item(part: PendingBatch) -> tuple[str, dict[str, object]] | None:
    """The topic and a JSON-able description of a part's one sample, event or status."""
    if len(part):
        kind, entity, metric, labels = part.keys[0]
        item = {"kind": kind, "entity": entity, "metric": metric, "labels": dict(labels),
                "ts": part.ts[0], "value": part.values[0]}  # fmt: skip
        return f"{kind}/{entity}", item
    if part.events:
        e = part.events[0]
        return f"{e.kind}/{e.entity}", {"kind": e.kind, "entity": e.entity, "ts": e.ts, "type": e.type,
                                         "severity": e.severity, "message": e.message}  # fmt: skip
    if part.statuses or part.retained_statuses:
        s = (part.statuses or part.retained_statuses)[0]
        return f"{s.kind}/{s.entity}", {"kind": s.kind, "entity": s.entity, "ts": s.ts, "status": s.status}
    return None
