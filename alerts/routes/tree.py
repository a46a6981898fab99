"""The route tree, as Alertmanager's `dispatch/route.go` builds and walks it: children inherit the
receiver and the group settings they leave out, the first matching child wins unless it says
`continue`, and a route none of whose children match takes the alert itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerts.routes.config import RouteConfig
from alerts.routes.matchers import Matcher, matches_all

# Alertmanager's DefaultRouteOpts.
GROUP_WAIT_S = 30.0
GROUP_INTERVAL_S = 300.0
REPEAT_INTERVAL_S = 4 * 3600.0
SITE_ELSE_AGENCY = ("site|agency",)  # grouping without a routes file (contract section 5), not writable in one


@dataclass
class Route:
    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait_s: float = GROUP_WAIT_S
    group_interval_s: float = GROUP_INTERVAL_S
    repeat_interval_s: float = REPEAT_INTERVAL_S
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: list[Route] = field(default_factory=list)
    key: str = "{}"
    id: str = "{}"

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with these labels goes to (depth first, in order)."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The labels this route groups an alert by."""
        if self.group_by == SITE_ELSE_AGENCY:
            for key in ("site", "agency"):
                if labels.get(key):
                    return {key: labels[key]}
            return {}
        if self.group_by == ("...",):
            return dict(labels)
        return {k: labels[k] for k in self.group_by if labels.get(k)}


def build_tree(config: RouteConfig, parent: Route | None = None, index: int = 0) -> Route:
    """A Route from its config, filling what it leaves out from its parent (or Alertmanager's defaults)."""
    matchers = config.all_matchers()
    base = parent or Route(receiver="")
    route = Route(
        receiver=config.receiver or base.receiver,
        group_by=tuple(config.group_by) if config.group_by is not None else base.group_by,
        group_wait_s=config.group_wait if config.group_wait is not None else base.group_wait_s,
        group_interval_s=config.group_interval if config.group_interval is not None else base.group_interval_s,
        repeat_interval_s=config.repeat_interval if config.repeat_interval is not None else base.repeat_interval_s,
        matchers=matchers,
        continue_=config.continue_,
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
    )
    if parent is not None:
        route.key = f"{parent.key}/{{{','.join(str(m) for m in matchers)}}}"
        route.id = f"{route.key}/{index}"
    route.routes = [build_tree(child, route, i) for i, child in enumerate(config.routes)]
    return route
