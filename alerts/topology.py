"""The inventory's `depends_on` graph: who is behind whom, and the root cause of an entity's outage."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable


class Topology:
    """Edges point from an entity to what it depends on (`kiosk/a` -> `link/wan`), as `kind/id` refs."""

    def __init__(self, depends_on: Iterable[tuple[str, Iterable[str]]]):
        self.parents: dict[str, tuple[str, ...]] = {}
        self.children: dict[str, list[str]] = {}
        for ref, deps in depends_on:
            self.parents[ref] = tuple(deps)
            for dep in self.parents[ref]:
                self.children.setdefault(dep, []).append(ref)

    def _walk(self, start: str, edges: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> list[str]:
        seen = {start}
        order: list[str] = []
        queue = deque(edges.get(start, ()))
        while queue:
            ref = queue.popleft()
            if ref in seen:
                continue
            seen.add(ref)
            order.append(ref)
            queue.extend(edges.get(ref, ()))
        return order

    def ancestors(self, ref: str) -> list[str]:
        """Everything `ref` depends on, transitively, nearest first."""
        return self._walk(ref, self.parents)

    def descendants(self, ref: str) -> list[str]:
        """Everything that depends on `ref`, transitively, nearest first."""
        return self._walk(ref, self.children)

    def root_cause(self, ref: str, down: Collection[str]) -> str | None:
        """The down entity furthest up the chain that `ref` depends on, or None when nothing it needs is down."""
        root = None
        current = ref
        while True:
            nearest = next((a for a in self.ancestors(current) if a in down and a != root), None)
            if nearest is None or nearest == ref:
                return root
            root = current = nearest
