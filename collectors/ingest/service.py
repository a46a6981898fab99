"""The ingest service: MQTT messages decoded on receipt, batched, written, and only then acknowledged.

Threads: paho's network thread decodes each message and puts it on a bounded queue (when the queue
is full it blocks, which stops reading the socket: backpressure up to the broker); a batching thread
gathers batches and prepares their arrays and COPY data; one committer thread writes them IN ORDER,
acknowledges and tells the listeners (one batch prepared ahead while the previous one is written).
The queue is bounded in messages (IOC_QUEUE_MAX_MESSAGES) AND in samples (two batches): decoding
further ahead gains nothing, and a network thread busy decoding a backlog holds the GIL the committer
needs after each store round trip. While the store is away, batches go to the
local spool (durable, so acknowledged) and are replayed in order, before newer ones, when it returns.
Leaving the shared subscription for good is `collectors.ingest.leaving`.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from collectors.decoders import Decoded, apply_time_window, decode_message
from collectors.ingest.batcher import Batcher
from collectors.ingest.mqtt_source import BROKER_DROPPED_TOPIC, Delivery, MqttSource
from collectors.ingest.spool import Spool
from ioc.metrics import IngestMetrics
from ioc.model import BROKER_DROPPED_METRIC
from ioc.settings import Settings
from ioc.store.batch import CommittedBatch
from ioc.store.writer import BatchWriter, PendingBatch, WriteResult

log = logging.getLogger(__name__)

Listener = Callable[[CommittedBatch], None]
_FIRST_RETRY_S = 0.1
_PUT_POLL_S = 0.5
_FAMILIES = ("metrics", "lp", "status", "events")
_QUEUED_BATCHES = 2  # decoded samples queued ahead of the writer: at most this many full batches
# While the committer is behind (a batch already waits for it), batches grow up to this many times
# IOC_BATCH_MAX_SAMPLES: each batch has fixed costs (round trips, commit, GIL hand-overs) that larger
# batches spread (measured here: draining a backlog at 5000 samples a batch ~150-170k samples/s, at
# 20000 ~190-250k). Without a backlog, batches stay small and flush on age, so latency is unchanged.
_BACKLOG_FACTOR = 4
# Decoding allocates ~10 tracked containers per message, so with CPython's default young-generation
# threshold (700) a cyclic collection ran every ~70 messages: in a single-sample microbenchmark they
# took more than half the time (24.5 us/msg, 11 us with the collector off). `start()` raises the
# threshold (process-wide; never lowers it): young collections are rarer and bigger, memory barely moves.
_GC_YOUNG_THRESHOLD = 50_000


class IngestService:
    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        listeners: Sequence[Listener] = (),
        writer: BatchWriter | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        drain: bool = False,
    ):
        """With drain=True it takes over the session of `settings.mqtt_client_id` to store what was queued
        for it and subscribes to nothing (collectors.ingest.drain); it then spools nothing either: a batch
        the store does not take stays unacknowledged, so the session is kept for a later drain."""
        self.settings = settings
        self.metrics = IngestMetrics(registry or CollectorRegistry())
        self.listeners = list(listeners)
        self.writer = writer or BatchWriter(settings.database_url)
        self._clock = clock
        self.sleep = sleep  # between retries (and while leaving)
        self._queue: queue.Queue[tuple[Decoded, Delivery | None]] = queue.Queue(settings.queue_max_messages)
        # Queued samples = _samples_in (written by paho's thread only) - _samples_out (by the batching
        # thread only): no lock per message; the Condition only when paho's thread must wait for room.
        self._room = threading.Condition()
        self._samples_in = 0
        self._samples_out = 0
        self._room_wanted = False
        self._max_queued_samples = _QUEUED_BATCHES * settings.batch_max_samples
        self._batcher = Batcher(settings.batch_max_samples, settings.batch_max_age_ms / 1000, time.monotonic)
        self._spool_enabled = not drain
        self.spool = Spool(settings.spool_dir)
        figures = None if drain else self._on_broker_figure
        self.source = MqttSource(settings, self._on_message, on_broker_figure=figures, drain=drain)
        self.broker_dropped_per_min: float | None = None  # None until the broker says (if it ever does)
        self._retention_s = settings.retention_days * 86400.0
        self._prefix = settings.mqtt_topic_prefix
        self._closing = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._committer: threading.Thread | None = None
        # Batches from the batching thread to the committer; one waits while another is written.
        self._handoff: queue.Queue[tuple[PendingBatch, list[Delivery], list[float]] | None] = queue.Queue(1)
        self._next_replay = 0.0
        self.metrics.spooled_bytes.set(self.spool.pending_bytes())
        self._received = {f: self.metrics.messages_received.labels(f) for f in (*_FAMILIES, "other")}

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.source.connected

    def start(self) -> None:
        young, middle, old = gc.get_threshold()
        if young < _GC_YOUNG_THRESHOLD:
            gc.set_threshold(_GC_YOUNG_THRESHOLD, middle, old)
        self._committer = threading.Thread(target=self._commit_loop, name="ioc-ingest-committer", daemon=True)
        self._committer.start()
        self._thread = threading.Thread(target=self._run, name="ioc-ingest-batcher", daemon=True)
        self._thread.start()
        self.source.start()

    def stop(self) -> None:
        """Stop taking messages, write and acknowledge what is queued, then disconnect."""
        self.finish()
        self.source.stop()
        self.writer.close()

    def finish(self) -> None:
        """Stop taking messages and wait until what is queued is written and acknowledged (or given up at
        stop); the MQTT session and the writer stay open (`stop`, or
        `collectors.ingest.leaving.leave_subscription`, close them)."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
        if self._committer is not None:
            self._committer.join()

    @property
    def backlog(self) -> int:
        """Messages received and not yet acknowledged (queued, batched, being written)."""
        return max(self.source.pending, 0)

    # -- paho's thread: decode and enqueue ------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes, delivery: Delivery) -> None:
        if self._closing.is_set():
            return  # not acknowledged: the broker keeps it for our next session
        now = self._clock()
        decoded = decode_message(topic, payload, now, self._prefix)
        decoded.retained = delivery.retained
        apply_time_window(decoded, now, self._retention_s)
        family = topic[len(self._prefix) + 1 :].split("/", 1)[0] if topic.startswith(self._prefix + "/") else ""
        self._received.get(family, self._received["other"]).inc()
        self._enqueue(decoded, delivery)

    def _enqueue(self, decoded: Decoded, delivery: Delivery | None) -> None:
        """Onto the bounded queue for the batching thread, in paho's thread; given up when ingest stops."""
        n = len(decoded.values)
        if n:
            self.metrics.samples_received.inc(n)
            if not self._wait_for_room(n):
                return
            self._samples_in += n
        while not self._closing.is_set():
            try:
                self._queue.put((decoded, delivery), timeout=_PUT_POLL_S)
                return
            except queue.Full:
                continue

    def _on_broker_figure(self, topic: str, value: float) -> None:
        """The broker's drop rate: on /metrics, in /readyz, and (one process) stored for the default rule."""
        self.broker_dropped_per_min = value
        self.metrics.broker_dropped.set(value)
        if not self.settings.mqtt_sys_samples or self._closing.is_set():
            return
        entity = self.settings.mqtt_broker_entity
        now = self._clock()
        decoded = Decoded(f"{self._prefix}/metrics/service/{entity}", "service", entity, now)
        decoded.add(BROKER_DROPPED_METRIC, (), now, value)
        self._enqueue(decoded, None)

    def problems(self) -> list[str]:
        """What /readyz names though ingest still runs."""
        dropped = self.broker_dropped_per_min
        if dropped:
            return [
                f"the MQTT broker is dropping messages ({dropped:g} per minute, {BROKER_DROPPED_TOPIC}): "
                "its queue or in-flight limits are too low for the load or for a session that was away; "
                "see 'Sizing the broker' in docs/operations.md"
            ]
        return []

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                closing = self._closing.is_set()
                try:
                    item = self._queue.get(timeout=min(self._batcher.due_in(), 0.05 if closing else 1.0))
                except queue.Empty:
                    item = None
                factor = _BACKLOG_FACTOR if self._handoff.full() else 1
                if item is not None:
                    self._take(item)
                    while not self._batcher.full(factor):  # what is queued already, without waiting
                        try:
                            self._take(self._queue.get_nowait())
                        except queue.Empty:
                            break
                    self.metrics.queue_depth.set(self._queue.qsize())
                if len(self._batcher) and (self._batcher.full(factor) or self._batcher.due_in() <= 0 or closing):
                    self._hand_off()
                if closing and item is None and not len(self._batcher):
                    break
        except Exception:
            log.exception("the ingest batching thread stopped on an unexpected error")
        finally:
            self._put_handoff(None)  # tells the committer to finish

    def _hand_off(self) -> None:
        batch, deliveries, received_at = self._batcher.take()
        try:
            self.writer.prepare(batch)  # overlaps the previous batch's write; optional (write does it otherwise)
        except Exception:
            log.exception("preparing a batch failed; the committer prepares it")
            batch.prepared = None
        self._put_handoff((batch, deliveries, received_at))

    def _put_handoff(self, item: tuple[PendingBatch, list[Delivery], list[float]] | None) -> None:
        while self._committer is not None and self._committer.is_alive():
            try:
                self._handoff.put(item, timeout=_PUT_POLL_S)
                return
            except queue.Full:
                continue

    # -- the committer thread -------------------------------------------------------------------

    def _commit_loop(self) -> None:
        try:
            while True:
                wait = 0.1 if self.spool.has_pending() else 1.0
                try:
                    item = self._handoff.get(timeout=wait)
                except queue.Empty:
                    if self.spool.has_pending() and time.monotonic() >= self._next_replay:
                        self._replay()
                    continue
                if item is None:
                    break
                self._flush(*item)
        except Exception:
            log.exception("the ingest committer stopped on an unexpected error")
        finally:
            self._stopped.set()

    def _wait_for_room(self, n: int) -> bool:
        """Wait until `n` more samples fit in the queue (one message always fits an empty queue)."""
        max_samples = self._max_queued_samples
        if self._samples_in - self._samples_out + n <= max_samples:
            return True
        with self._room:
            self._room_wanted = True
            try:
                while (queued := self._samples_in - self._samples_out) and queued + n > max_samples:
                    if self._closing.is_set():
                        return False
                    self._room.wait(_PUT_POLL_S)
            finally:
                self._room_wanted = False
        return True

    def _take(self, item: tuple[Decoded, Delivery | None]) -> None:
        self._batcher.add(*item)
        n = len(item[0].values)
        if n:
            self._samples_out += n
            if self._room_wanted:
                with self._room:
                    self._room.notify()

    def _flush(self, batch: PendingBatch, deliveries: list[Delivery], received_at: list[float]) -> None:
        """Write the batch (or spool it), then acknowledge its messages. When neither the store nor the
        spool takes it, it is held and retried (its messages unacknowledged; the queue fills and stops
        the network thread); at stop it is given up unacknowledged, for the broker to deliver again."""
        while True:
            if self.spool.has_pending() and not self._replay():
                durable = self._to_spool(batch)
            else:
                result = self._write_with_retries(batch)
                if result is not None:
                    self._committed(result, received_at)
                    break
                durable = self._to_spool(batch)
            if durable:
                break
            if self._closing.is_set():
                log.error(
                    "stopping with the store and the spool unavailable: %d messages left unacknowledged, "
                    "the broker delivers them again to this session",
                    len(deliveries),
                )
                return
            self.sleep(self.settings.db_retry_max_s)
        for delivery in deliveries:
            self.source.ack(delivery)

    def _write_with_retries(self, batch: PendingBatch) -> WriteResult | None:
        """Write, retrying temporary errors with capped exponential backoff; None when the store stays away."""
        delay = _FIRST_RETRY_S
        attempts = self.settings.db_retry_attempts
        for attempt in range(attempts + 1):
            try:
                return self._write(batch)
            except Exception as exc:
                self.metrics.db_errors.labels(_sqlstate_class(exc)).inc()
                if attempt == attempts or (self._closing.is_set() and attempt >= 1):
                    log.warning("store unavailable after %d attempts (%s); spooling the batch", attempt + 1, exc)
                    return None
                self.metrics.db_retries.inc()
                log.info("temporary store error (%s); retrying in %.1f s", exc, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.settings.db_retry_max_s)
        return None

    def _write(self, batch: PendingBatch) -> WriteResult:
        started = time.perf_counter()
        result = self.writer.write(batch)
        self.metrics.batch_latency.observe(time.perf_counter() - started)
        return result

    def _committed(self, result: WriteResult, received_at: list[float]) -> None:
        m = self.metrics
        m.samples_stored.inc(result.stored)
        if result.duplicates:
            m.samples_duplicate.inc(result.duplicates)
        m.batch_size.observe(result.stored)
        for rejection in result.dead_letters:
            m.dead_letters.labels(rejection.reason).inc()
        now = self._clock()
        for t in received_at:
            m.ingest_latency.observe(max(now - t, 0.0))
        m.series_cached.set(len(self.writer.registry))
        for listener in self.listeners:
            try:
                listener(result.committed)
            except Exception:
                log.exception("listener %r failed on a committed batch", listener)

    def _to_spool(self, batch: PendingBatch) -> bool:
        """Append the batch to the spool; False when the spool cannot take it (e.g. disk full)."""
        if not self._spool_enabled:
            return False
        try:
            self.spool.append(batch.to_bytes())
        except OSError as exc:
            self.metrics.spool_errors.inc()
            log.error("the spool cannot take a batch (%s) while the store is away; holding it", exc)
            return False
        self.metrics.spooled_batches.inc()
        self.metrics.spooled_bytes.set(self.spool.pending_bytes())
        self._next_replay = time.monotonic() + self.settings.db_retry_max_s
        return True

    def _replay(self) -> bool:
        """Write spooled batches in order; True when the spool is empty afterwards."""
        for offset, data in self.spool.pending():
            try:
                result = self._write(PendingBatch.from_bytes(data))
            except Exception as exc:
                self.metrics.db_errors.labels(_sqlstate_class(exc)).inc()
                self._next_replay = time.monotonic() + self.settings.db_retry_max_s
                log.info("store still unavailable (%s); %d spooled bytes wait", exc, self.spool.pending_bytes())
                return False
            self.spool.mark_replayed(offset)
            self.metrics.replayed_batches.inc()
            self.metrics.spooled_bytes.set(self.spool.pending_bytes())
            self._committed(result, [])
        self.spool.clear()
        self.metrics.spooled_bytes.set(0)
        return True


def _sqlstate_class(exc: BaseException) -> str:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate[:2] if sqlstate else "connection"
