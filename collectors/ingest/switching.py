"""Moving between subscriptions without losing or doubling a message (contract section 11).

A lone ingest member reads the prefix through a plain subscription, which the broker keeps over its own
restart (Mosquitto 2.0 drops a persistent session's *shared* subscriptions when it restarts, so what
devices flush before ingest subscribes again would find no subscriber). When a second member joins, the
lone one moves to the shared subscription; a member whose session holds the other kind (it was lone
before, or it was not) moves at connect; a member that joins while a stopped lone member's session still
holds a plain subscription drains that session while it subscribes.

Each move holds both routes for a moment: the new subscription is made first, the old one is left only
once the broker confirmed the new one (or the old session is drained while the new one receives). A
message published in between arrives twice, once by each route. `RouteDedupe` lets one copy through
and acknowledges the other without storing it: it counts, per (topic, payload), the copies one route
brought that the other has not matched yet. A copy that finds one waiting on the other route is its twin.
Counts rather than a set, so two identical messages published during the overlap are both stored. Both
copies of one publish are queued by the broker at the same moment, so a copy waits for its twin at most
`window_s`; a message that only one route carried (published before the new subscription or after the
old one was left) is forgotten then. The one case it gets wrong: a device that publishes the very same
bytes on the same topic twice within `window_s`, once before and once after the overlap (a payload
without `ts`), loses the second; with `ts`, the second is the same sample anyway.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

Route = Literal["old", "new"]
WINDOW_S = 5.0


class RouteDedupe:
    """Twins across two routes; thread-safe (each route may be a paho thread of its own)."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        # Per route and key, the deadlines of the copies waiting for a twin, oldest first.
        self._waiting: dict[Route, dict[bytes, deque[float]]] = {"old": {}, "new": {}}
        self._expiry: deque[tuple[float, Route, bytes]] = deque()
        self._lock = threading.Lock()
        self.twins = 0  # copies dropped as the twin of one already let through

    def is_twin(self, route: Route, topic: str, payload: bytes) -> bool:
        """True when this copy's twin came by the other route: acknowledge it, store nothing."""
        key = hashlib.blake2b(payload, digest_size=16).digest() + topic.encode("utf-8", "surrogateescape")
        other: Route = "new" if route == "old" else "old"
        now = self._clock()
        with self._lock:
            self._expire(now)
            waiting = self._waiting[other].get(key)
            if waiting:
                waiting.popleft()
                self.twins += 1
                return True
            deadline = now + self.window_s
            self._waiting[route].setdefault(key, deque()).append(deadline)
            self._expiry.append((deadline, route, key))
            return False

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, route, key = self._expiry.popleft()
            waiting = self._waiting[route].get(key)
            if waiting is None:
                continue
            while waiting and waiting[0] <= now:
                waiting.popleft()
            if not waiting:
                del self._waiting[route][key]

    def waiting(self) -> int:
        """Copies still waiting for a twin (for tests and logs)."""
        with self._lock:
            self._expire(self._clock())
            return sum(len(d) for route in self._waiting.values() for d in route.values())
