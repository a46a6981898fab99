"""The alert service: committed batches in (from the writer's thread, or LISTEN in another process),
one evaluator thread running the engine and the delivery stages, one worker thread per integration.

With `leadership` (every `ioc run` process; contract section 11) several processes may run it: the one
holding the lease (alerts/leadership.py) evaluates and notifies; the others stand by, listening but
holding no engine. A process that comes to lead builds its engine from the store, as a restart does
(open alerts, liveness, flap damping and holds, groups and their timers, the outbox: migration 0510),
under its epoch; one that stops leading drops all of it, and what it still had to send stays in the
outbox for the new leader. Nothing is kept warm: the state lives in the store after every round, so
taking over is a restart's load (measured in docs/operations.md)."""

from __future__ import annotations

import ipaddress
import logging
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable

import numpy as np
import psycopg
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool

from alerts import store
from alerts.alert import FIRING, Alert
from alerts.delivery.dispatcher import Dispatcher
from alerts.delivery.mute import Muter
from alerts.delivery.notify import Deliverer, Integration
from alerts.delivery.persist import DeliveryState, Unsent
from alerts.engine import Engine
from alerts.grouping import AlertSnapshot, Notification
from alerts.holidays import is_holiday
from alerts.kpi_check import RULE as KPI_RULE
from alerts.kpi_check import WHOLE_WINDOW as KPI_WHOLE_WINDOW
from alerts.kpi_check import WINDOW_S as KPI_WINDOW_S
from alerts.kpi_check import KpiCheck
from alerts.leadership import Leadership, NotLeader
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.base import Notifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.readback import CommittedListener, prime_windows
from alerts.receivers import Delivery, load_delivery, settings_integrations
from alerts.rules import Rule, load_rules
from ioc.inventory import load_inventory_from_store
from ioc.metrics import AlertMetrics
from ioc.settings import Settings
from ioc.store.batch import CommittedBatch
from ioc.store.series import SeriesRegistry

log = logging.getLogger("ioc.alerts")

INVENTORY_REFRESH_S = 30.0
ALERTMANAGER_RESEND_S = 60.0
# Longer than this between two rounds (the process paused, the store away) and alerting was blind: the
# entities' silence counts again from the round that sees (alerts/liveness.py). At least 3 ticks.
BLIND_GAP_S = 10.0
# A message the previous leader had taken out to send when it lost the lead: sent again only if still in
# the outbox this long after the takeover (the old leader's attempt in progress ends well within it).
IN_FLIGHT_GRACE_S = 10.0


def build_notifiers(settings: Settings) -> list[Notifier]:
    """One notifier per channel of the section 6 settings (the receiver of a run without a routes file)."""
    return [i.notifier for i in settings_integrations(settings)]


def loopback_public_url(settings: Settings) -> bool:
    host = urllib.parse.urlsplit(settings.public_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AlertService:
    def __init__(
        self,
        settings: Settings,
        *,
        pool: ConnectionPool,
        registry: CollectorRegistry,
        in_process: bool = True,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.monotonic,
        notifiers: list[Notifier] | None = None,
        delivery: Delivery | None = None,
        rules: list[Rule] | None = None,
        queue_max: int = 10_000,
        retry_base_s: float = 0.5,
        leadership: bool = False,
    ):
        self.settings = settings
        self.pool = pool
        self.in_process = in_process
        self.clock = clock
        self.wall = wall  # real time passing, for blind times (the clock may be a simulated one)
        self.metrics = AlertMetrics(registry)
        self.rules = rules
        if delivery is None:
            machine = (WebhookNotifier, AlertmanagerNotifier)  # read by programs: one message a group, always
            given = (
                [Integration(n, digest=not isinstance(n, machine)) for n in notifiers]
                if notifiers is not None
                else None
            )
            delivery = load_delivery(settings, given)
        self.delivery = delivery
        self.dispatcher = Dispatcher(delivery.tree, Muter(delivery.intervals))
        self.series = SeriesRegistry()
        self._queue: queue.Queue[CommittedBatch] = queue.Queue(maxsize=queue_max)
        self._stopping = threading.Event()
        self.leadership = (
            Leadership(settings.database_url, pool, settings.alert_lease_s, on_change=self._lead_changed,
                       stopping=self._stopping)
            if leadership
            else None
        )  # fmt: skip
        self._epoch: int | None = None  # the epoch the engine was built under
        self.listener = CommittedListener(
            settings, self.series, self.on_committed, self._stopping,
            wanted=lambda: self.leadership is None or self.leadership.is_leader(),
            regained=self._regained,
        )  # fmt: skip
        self.deliverer = Deliverer(
            delivery.receivers, self.metrics, self._stopping, retry_base_s, self._sent, self.leadership
        )
        self.state = DeliveryState()
        self._threads: list[threading.Thread] = []
        self.engine: Engine | None = None
        self._inventory_at = 0.0
        self._am_resend_at = 0.0
        self._unsaved: dict[str, Alert] = {}
        self._in_flight: tuple[float, list[int]] | None = None  # (when, outbox ids) of the old leader's
        self.in_flight_grace_s = IN_FLIGHT_GRACE_S
        self.kpi = KpiCheck(settings.kpi_targets, language=settings.language, min_count=settings.kpi_min_count)
        self._rules: list[Rule] = []
        self._blind = False  # the listener heard the store again after losing it: the next round resumes
        # When (`wall`) the last round that reached the store ended: rounds failing (the store away) or not
        # run (the process paused) for longer than BLIND_GAP_S are a blind time too.
        self._last_round: float | None = None

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._rules = self.rules if self.rules is not None else load_rules(self.settings.rules_dir)
        if self.leadership is None:
            self._take_over()
        else:
            self.leadership.start()
            if self.leadership.is_leader():
                try:
                    self._take_over()
                except NotLeader as exc:
                    log.warning("alerting: lost the lead while taking over (%s)", exc)
            else:
                log.info("alerting: standing by (another process leads)")
        workers = self.deliverer.all()
        if workers and loopback_public_url(self.settings):
            log.warning(
                "IOC_PUBLIC_URL is %s, a loopback address: the links in alert messages will not open for their "
                "readers; set it to the address the operations centre reaches this service at",
                self.settings.public_url,
            )
        self.deliverer.start()
        self._threads = [threading.Thread(target=self._evaluate_loop, name="ioc-alerts", daemon=True)]
        if not self.in_process:
            self._threads.append(threading.Thread(target=self.listener.run, name="ioc-alerts-listen", daemon=True))
        for thread in self._threads:
            thread.start()

    def _take_over(self) -> None:
        """Build the engine and the delivery state from the store (at start, and on coming to lead)."""
        epoch = self.leadership.epoch if self.leadership is not None else None
        started = time.perf_counter()
        now = self.clock()
        self.dispatcher = Dispatcher(self.delivery.tree, Muter(self.delivery.intervals))
        self.state = DeliveryState()
        self.kpi = KpiCheck(
            self.settings.kpi_targets, language=self.settings.language, min_count=self.settings.kpi_min_count
        )
        self._unsaved, self._am_resend_at, self._in_flight = {}, 0.0, None
        with self.pool.connection() as conn:
            if self.leadership is not None:
                self.leadership.fence(conn, epoch)  # what the old leader committed is all in from here
            inventory = load_inventory_from_store(conn)
            # Status changes said after the newest the store had are new (with none yet, every one is), even
            # when said before now: a Last Will the ingest spooled while the store was away, replayed after
            # this takeover, pages at once.
            said = store.last_status_at(conn)
            self.listener.last_status_ts = 0.0 if said is None else min(said, now)
            engine = Engine(
                self._rules,
                inventory,
                start=now,
                language=self.settings.language,
                timezone=self.settings.timezone,
                baseline=self._baseline,
                is_holiday=is_holiday,
                topology_hold_s=self.settings.alert_topology_hold_s,
                reconnect_grace_s=self.settings.alert_reconnect_grace_s,
            )
            # An entity whose last word is `offline` and that never sent a sample was last heard then:
            # without it the engine would count it as seen at start-up, alive, and resolve its outage.
            liveness = [
                (kind, entity, seen if seen is not None or offline is None else offline, offline)
                for kind, entity, seen, offline in store.load_liveness(conn)
            ]
            open_alerts = store.load_open_alerts(conn)
            self.kpi.restore(open_alerts)
            gone = engine.restore([a for a in open_alerts if a.rule != KPI_RULE], liveness, now)
            store.save_alerts(conn, gone)
            # Flap damping, holds, groups and unsent messages as they were when the last process stopped.
            self.state.restore_runtime(conn, engine.alerts)
            self.state.restore_groups(conn, self.dispatcher, engine.alerts)
            unsent = self.state.take_outbox(conn)
            prime_windows(conn, engine, self.series, now)
        self.deliverer.drain()  # what this process had queued under an earlier lead is in `unsent` again
        self.engine, self._epoch = engine, epoch  # built at `now`: silence counts from then (Liveness)
        self._inventory_at = now
        self._blind, self._last_round = False, None
        in_flight = [u.outbox_id for u in unsent if u.sending_epoch is not None]
        if in_flight:
            self._in_flight = (now + self.in_flight_grace_s, in_flight)
            log.warning("alerting: %d message(s) were being sent when the previous leader stopped; sent again "
                        "in %.0f s unless it finishes them", len(in_flight), self.in_flight_grace_s)  # fmt: skip
        self._queue_unsent([u for u in unsent if u.sending_epoch is None])
        self.metrics.leader.set(1)  # leading from here: evaluating and notifying
        log.info(
            "alert engine %s: %d rules, %d open alerts, %d groups, %d unsent messages, %d receivers, %d integrations; "
            "state loaded in %.2f s",
            "started" if epoch is None else f"leading (epoch {epoch})",
            len(self._rules), len(engine.alerts), len(self.dispatcher.groups), len(unsent),
            len(self.delivery.receivers), len(self.deliverer.all()), time.perf_counter() - started,
        )  # fmt: skip

    def _queue_unsent(self, unsent: list[Unsent]) -> None:
        for u in unsent:
            workers = self.deliverer.workers.get(u.receiver, [])
            if u.integration < len(workers):
                workers[u.integration].queue.put((u.outbox_id, u.message))
            else:
                self._sent(u.outbox_id)  # its receiver is gone from the routes file

    def _step_down(self) -> None:
        """No longer the leader: drop the engine and what waits to be sent (the outbox keeps it)."""
        self.engine, self._epoch, self._unsaved, self._in_flight = None, None, {}, None
        self.metrics.leader.set(0)
        self.dispatcher = Dispatcher(self.delivery.tree, Muter(self.delivery.intervals))
        self.deliverer.drain()
        self._discard_batches()
        for state in ("pending", "firing"):
            self.metrics.open_alerts.labels(state).set(0)

    def _discard_batches(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _lead_changed(self, leading: bool) -> None:
        if not leading:  # at once; 1 only once the engine is built (`_take_over`)
            self.metrics.leader.set(0)

    def leads(self) -> bool:
        """The engine is this process's to run: built under the epoch that still leads."""
        if self.engine is None:
            return False
        return self.leadership is None or self.leadership.epoch == self._epoch

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.deliverer.stop()
        if self.leadership is not None:
            self.leadership.stop()  # after the last message: a standby takes over from what is committed

    def on_committed(self, batch: CommittedBatch) -> None:
        """Called by the ingest writer after every commit, in its thread: hand over and return."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.metrics.dropped_batches.inc()

    # -- evaluation --------------------------------------------------------------------------------

    def _evaluate_loop(self) -> None:
        tick = self.settings.alert_tick_s
        next_tick = self.clock()
        carried: list[CommittedBatch] = []  # batches of a round that failed (the engine skips what it judged)
        while not self._stopping.is_set():
            if self.leadership is not None and not self.leads():
                carried = []
                self._stand_by()
                next_tick = self.clock()
                continue
            now = self.clock()
            wait = next_tick - now
            due = self.dispatcher.next_due()
            if due is not None:
                wait = min(wait, due - now)
            batches, carried = carried, []
            try:
                batches.append(self._queue.get(timeout=0.0 if batches else max(0.0, min(wait, tick))))
                while len(batches) < 100:
                    batches.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            try:
                do_tick = self.clock() >= next_tick
                self.step(batches, tick=do_tick)
                if do_tick:
                    next_tick = self.clock() + tick
            except NotLeader as exc:
                log.warning("alerting: stopped leading in a round (%s); standing by", exc)
                self._step_down()
            except Exception:
                carried = batches[-1000:]
                log.exception("alert evaluation failed; retrying on the next tick")
                self._stopping.wait(min(tick, 1.0))
                next_tick = self.clock() + tick

    def _stand_by(self) -> None:
        """Not leading: drop what an earlier lead left, and take over once the lease is this process's."""
        assert self.leadership is not None
        if self.engine is not None:
            log.warning("alerting: no longer the leader; standing by")
            self._step_down()
        self._discard_batches()
        if not self.leadership.is_leader():
            self.leadership.changed.wait(0.2)
            self.leadership.changed.clear()
            return
        try:
            self._take_over()
        except NotLeader as exc:
            log.warning("alerting: lost the lead while taking over (%s)", exc)
        except Exception:
            log.exception("alerting: taking over failed; trying again")
            self._stopping.wait(1.0)

    def step(self, batches: list[CommittedBatch], *, tick: bool) -> None:
        """Evaluate batches (and the tick), save what changed, and send what is due: one round of the loop."""
        engine = self.engine
        assert engine is not None, "start() first"
        changed: dict[str, Alert] = {}
        late: list[Unsent] = []
        with self.pool.connection() as conn:
            if self.leadership is not None:
                self.leadership.fence(conn, self._epoch)  # a fenced-off old leader writes and sends nothing
            self._sight(engine)
            for batch in batches:
                started = time.perf_counter()
                unknown = [int(s) for s in np.unique(batch.series_ids) if self.series.key_of(int(s)) is None]
                if unknown:
                    self.series.load_ids(conn, unknown)
                for alert in engine.observe(
                    batch.series_ids,
                    batch.ts,
                    batch.values,
                    self.series.key_of,
                    statuses=batch.statuses,
                    seen=batch.entities_seen,
                    now=self.clock(),
                ):
                    changed[alert.fingerprint] = alert
                self.metrics.batches.inc()
                self.metrics.samples.inc(len(batch))
                self.metrics.eval_seconds.labels("batch").observe(time.perf_counter() - started)
            self.metrics.queue_depth.set(self._queue.qsize())
            now = self.clock()
            if tick:
                started = time.perf_counter()
                self._refresh(conn, engine, now)
                for alert in engine.tick(now):
                    changed[alert.fingerprint] = alert
                if self.kpi.due(now):
                    for alert in self._check_kpis(conn, now):
                        changed[alert.fingerprint] = alert
                self.metrics.eval_seconds.labels("tick").observe(time.perf_counter() - started)
            changed = {**self._unsaved, **changed}
            if changed:
                try:
                    store.save_alerts(conn, changed.values())
                except Exception:
                    self._unsaved = changed  # saved with the next round, so no transition is lost
                    raise
                self._unsaved = {}
                for alert in changed.values():
                    self.metrics.transitions.labels("dropped" if alert.dropped else alert.state).inc()
                    self.dispatcher.consider(alert, now)
            if tick:
                for alert in [*engine.alerts.values(), *self.kpi.alerts.values()]:
                    self.dispatcher.consider(alert, now)
            outgoing = self.dispatcher.flush(now)
            if outgoing.notified:
                store.mark_notified(conn, [a.id for a in outgoing.notified if a.id is not None], now)
            planned = self.deliverer.plan(outgoing.notifications)
            # Committed with the round: a message taken is sent even if the process dies before it is.
            queued = [(w, self.state.add_to_outbox(conn, w.receiver, w.index, m), m) for w, m in planned]
            self.state.save_runtime(conn, engine.alerts)
            self.state.save_groups(conn, self.dispatcher)
            if tick and now >= self._am_resend_at:
                self._am_resend_at = now + ALERTMANAGER_RESEND_S
                self._resend_to_alertmanager(engine, now)
            if self._in_flight is not None and now >= self._in_flight[0]:
                late = self.state.take_outbox(conn, self._in_flight[1])  # the old leader did not finish them
                self._in_flight = None
        self._last_round = self.wall()
        for worker, outbox_id, message in queued:
            worker.queue.put((outbox_id, message))
        self._queue_unsent(late)
        counts = {"pending": 0, "firing": 0}
        for alert in engine.alerts.values():
            counts[alert.state] = counts.get(alert.state, 0) + 1
        for state, count in counts.items():
            self.metrics.open_alerts.labels(state).set(count)

    def _regained(self) -> None:
        """The listener hears the store again after a loss (in its thread): the next round resumes."""
        self._blind = True

    def _sight(self, engine: Engine) -> None:
        """This round sees the store: if alerting was blind before it (the listener lost the store, or no
        round reached it for longer than BLIND_GAP_S), the entities' silence counts again from now."""
        gap = max(BLIND_GAP_S, 3 * self.settings.alert_tick_s)
        late = self._last_round is not None and self.wall() - self._last_round > gap
        if self._blind or late:
            log.warning(
                "alerting: sees the store again after %s; every entity's heartbeat counts from now",
                "no round for a while" if late and not self._blind else "the listener lost it",
            )
            engine.resume(self.clock())
            self._blind = False

    def _sent(self, outbox_id: int) -> None:
        """A message is done with (in a notifier's thread): off the outbox."""
        try:
            with self.pool.connection() as conn:
                DeliveryState.sent(conn, outbox_id)
        except psycopg.Error as exc:
            log.warning("could not take message %d off the outbox (%s): it may be sent again after a restart",
                        outbox_id, exc)  # fmt: skip

    def _check_kpis(self, conn: psycopg.Connection, now: float) -> list[Alert]:
        """Every agency's KPIs over the last 24 hours against the targets (`kpi_below_target`)."""
        from ioc.store.kpis import agency_kpis, counted_before

        names: dict[str, str] = dict(conn.execute("SELECT id, name FROM agencies").fetchall())
        start = now - KPI_WINDOW_S
        results = {a: agency_kpis(conn, a, start, now, KPI_WINDOW_S) for a in names}
        partial = [a for a in names if KPI_WHOLE_WINDOW & set(self.kpi.targets) and not counted_before(conn, a, start)]
        kpis = {a: r.kpis for a, r in results.items()}
        bases = {a: r.bases for a, r in results.items()}
        return self.kpi.evaluate(kpis, names, now, bases=bases, partial=partial)

    def _refresh(self, conn: psycopg.Connection, engine: Engine, now: float) -> None:
        """Silences, maintenance windows and acks every tick; the inventory now and then."""
        self.dispatcher.muter.silences = store.load_silences(conn, now)
        self.dispatcher.muter.windows = store.load_windows(conn)
        acks = store.load_acks(conn)
        for alert in engine.alerts.values():
            if alert.id is not None:
                alert.acked_by = acks.get(alert.id)
        if now - self._inventory_at >= INVENTORY_REFRESH_S:
            self._inventory_at = now
            inventory = load_inventory_from_store(conn)
            if inventory != engine.inventory:
                engine.set_inventory(inventory)

    def _resend_to_alertmanager(self, engine: Engine, now: float) -> None:
        """Alertmanager forgets an alert not heard of for its resolve_timeout; say again what still fires."""
        targets = {
            name: [w for w in workers if isinstance(w.integration.notifier, AlertmanagerNotifier)]
            for name, workers in self.deliverer.workers.items()
        }
        if not any(targets.values()):
            return
        firing = [
            a
            for a in engine.alerts.values()
            if a.state == FIRING and a.last_notified_at is not None and self.dispatcher.announce(a, now)
        ]
        for name, workers in targets.items():
            # Only what the tree sends to this receiver, so Alertmanager keeps exactly what it was told.
            mine = [
                AlertSnapshot.of(a, "firing")
                for a in firing
                if any(r.receiver == name for r in self.dispatcher.tree.match(a.labels))
            ]
            if mine and workers:
                for worker in workers:
                    worker.queue.put((None, Notification("resend", {}, tuple(mine), receiver=name)))

    # -- restarts and other processes ------------------------------------------------------------

    def _baseline(self, series_id: int, starts: list[float]) -> np.ndarray:
        with self.pool.connection() as conn:
            return store.hourly_averages(conn, series_id, starts)
