"""Suppression: which alerts are symptoms of another (topology, `inhibited_by`), how long a dependent
is held for its root to show, how long a clearing alert keeps firing (flap damping), and the
reconnect grace after which what is behind a recovering entity is on its own again."""

from __future__ import annotations

from collections.abc import Callable, Collection

from alerts.alert import FIRING, PENDING, Alert
from alerts.open_alerts import OpenAlerts
from alerts.rule_types import Rule, for_s
from alerts.topology import Topology

# Flap damping: an alert that broke again this many times while clearing counts as flapping, and then
# has to stay healthy FLAPPING_HOLD_FACTOR times its rule's keep_firing_for before it resolves.
FLAPPING_AFTER = 3
FLAPPING_HOLD_FACTOR = 3.0

# Whether an entity (kind, id) showed life recently enough to vouch it is up (see `Liveness.vouches`).
Vouches = Callable[[str, str, float], bool]


def keep_firing_s(rule: Rule, alert: Alert) -> float:
    factor = FLAPPING_HOLD_FACTOR if alert.flaps >= FLAPPING_AFTER else 1.0
    return rule.keep_firing_for_s * factor


class Suppression:
    def __init__(
        self,
        open_alerts: OpenAlerts,
        rule_of: Callable[[str], Rule | None],
        vouches: Vouches,
        *,
        topology_hold_s: float,
        reconnect_grace_s: float,
    ) -> None:
        self.open, self.rule_of, self.vouches = open_alerts, rule_of, vouches
        self.topology_hold_s, self.reconnect_grace_s = topology_hold_s, reconnect_grace_s
        self.topology = Topology(())

    def suppress(self, alert: Alert, rule: Rule | None, down: Collection[str]) -> None:
        alert.suppressed_by = self.cause(alert, rule, down)
        # A window that still shows the outage after the entity is back (a burn rate, a p95) is no new
        # incident: a symptom of the entity's own outage stays suppressed until it resolves.
        alert.symptom = alert.suppressed_by == alert.ref and alert.ref in down

    def cause(self, alert: Alert, rule: Rule | None, down: Collection[str]) -> str | None:
        """What an alert is a symptom of: a down entity it depends on, else its own entity being down
        (a link that is down also loses packets; one page for it is enough)."""
        root = self.topology.root_cause(alert.ref, down)
        if root is None and alert.ref in down and rule is not None and not rule.down:
            root = alert.ref
        if root is None and rule is not None and rule.inhibited_by:
            for other in self.open.of(alert.ref):
                if other.state == FIRING and other.rule in rule.inhibited_by and other.suppressed_by is None:
                    return alert.ref
        return root

    def hold(self, alert: Alert, rule: Rule, now: float) -> None:
        """An alert that just fired: hold it while its root may still show the outage is its own."""
        if rule.down:
            if self.topology_hold_s > 0 and self.topology.parents.get(alert.ref) and not self._roots_up(alert.ref, now):
                # A dependent's own outage may be its link's, not yet judged: give the root time to show.
                # When every root has just reported and is up, the outage is the dependent's own and
                # it pages at once.
                alert.hold_until = now + self.topology_hold_s
        elif self.pending_down_until([alert.ref]) is not None:
            alert.hold_until = now  # its entity may be going down (a `for` running): wait for that

    def release(self, alert: Alert, now: float) -> None:
        """A clearing `down` alert healthy again for the reconnect grace: what is behind it is on its own,
        though its resolved waits for keep_firing_for."""
        if alert.clearing_since is not None and now - alert.clearing_since >= self.reconnect_grace_s:
            self.open.unmark_down(alert)

    def extend_holds(self, now: float) -> None:
        """A held dependent whose root has a `down` alert pending (waiting out its `for`) waits for that."""
        for alert in self.open.alerts.values():
            if alert.hold_until is None or now < alert.hold_until or alert.last_notified_at is not None:
                continue
            if alert.suppressed_by is not None or alert.state != FIRING:
                continue
            rule = self.rule_of(alert.rule)
            refs = self.topology.ancestors(alert.ref)
            if rule is not None and not rule.down:
                refs.insert(0, alert.ref)
            due = self.pending_down_until(refs)
            if due is not None and due > alert.hold_until:
                alert.hold_until = due

    def _roots_up(self, ref: str, now: float) -> bool:
        """True when everything `ref` depends on vouches it is up and has no `down` alert firing or pending."""
        for root in self.topology.ancestors(ref):
            kind, _, entity_id = root.partition("/")
            if not self.vouches(kind, entity_id, now):
                return False
            if root in self.open.down or self.pending_down_until([root]) is not None:
                return False
        return True

    def pending_down_until(self, refs: list[str]) -> float | None:
        """When the `down` alerts pending on these entities would fire (the latest), or None."""
        due = None
        for ref in refs:
            for pending in self.open.of(ref):
                rule = self.rule_of(pending.rule)
                if rule is not None and rule.down and pending.state == PENDING and pending.cond.since is not None:
                    fires_at = pending.cond.since + for_s(rule) + 1.0
                    due = fires_at if due is None else max(due, fires_at)
        return due

    def inhibition(self, changed: dict[str, Alert]) -> None:
        """Alerts of an entity that another of its alerts inhibits (`inhibited_by`): suppressed while that
        one fires unsuppressed, free to page once it is gone."""
        refs = {a.ref for a in changed.values()}
        for ref in refs:
            for alert in self.open.of(ref):
                rule = self.rule_of(alert.rule)
                if rule is None or not rule.inhibited_by or alert.last_notified_at is not None or alert.symptom:
                    continue
                if alert.state != FIRING or alert.suppressed_by not in (None, ref):
                    continue
                cause = self.cause(alert, rule, self.open.down)
                if cause != alert.suppressed_by:
                    alert.suppressed_by = cause
                    changed[alert.fingerprint] = alert

    def topology_changed(self, down_before: set[str], changed: dict[str, Alert]) -> None:
        """Suppress what is behind a newly down entity; let it page on its own once the root is back."""
        down_now = set(self.open.down)
        if down_now == down_before:
            return
        for root in down_now - down_before:
            for ref in [root, *self.topology.descendants(root)]:
                for alert in self.open.of(ref):
                    if alert.suppressed_by is None and alert.last_notified_at is None:
                        self.suppress(alert, self.rule_of(alert.rule), down_now)
                        if alert.suppressed_by is not None:
                            changed[alert.fingerprint] = alert
        for gone in down_before - down_now:
            for ref in [gone, *self.topology.descendants(gone)]:
                for alert in self.open.of(ref):
                    if alert.suppressed_by is not None and alert.suppressed_by not in down_now and not alert.symptom:
                        if alert.clearing_since is not None:
                            continue  # healthy again already: it ends as part of its root's incident
                        self.suppress(alert, self.rule_of(alert.rule), down_now)
                        alert.hold_until = None  # the root was judged; what is still down pages now
                        changed[alert.fingerprint] = alert
