"""Turning the inventory into probe jobs and running them on their intervals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collectors.probes.http import HttpTarget, ProbeConfigError, probe_http
from collectors.probes.kiosk_agent import collect_kiosk, disk_path_for
from collectors.probes.link import LinkTarget, probe_link
from ioc.inventory import Entity, Inventory

log = logging.getLogger("ioc.probes")

PROBE_KINDS = {"http": "service", "link": "link", "kiosk": "kiosk"}
DEFAULT_INTERVAL_S = {"http": 30.0, "link": 10.0, "kiosk": 30.0}


@dataclass(frozen=True)
class ProbeJob:
    kind: str
    entity: str
    interval_s: float
    measure: Callable[[], dict[str, float]]


def _http_job(entity: Entity, interval: float) -> ProbeJob:
    target = HttpTarget.from_entity(entity)
    return ProbeJob(entity.kind, entity.id, interval, lambda: probe_http(target))


def _link_job(entity: Entity, interval: float) -> ProbeJob:
    target = LinkTarget.from_entity(entity)
    return ProbeJob(entity.kind, entity.id, interval, lambda: probe_link(target)[0])


def _kiosk_job(entity: Entity, interval: float) -> ProbeJob:
    path = disk_path_for(entity)
    return ProbeJob(entity.kind, entity.id, interval, lambda: collect_kiosk(path))


_BUILDERS = {"http": _http_job, "link": _link_job, "kiosk": _kiosk_job}


def jobs_from_inventory(
    inventory: Inventory, probes: Iterable[str], *, only: set[str] | None = None, interval_s: float | None = None
) -> tuple[list[ProbeJob], list[str]]:
    """The probe jobs for the inventory's entities, and every configuration problem found (one per entity).

    An entity is probed by `http` when it is a service with a `url`, by `link` when it is a link with a
    `target`/`host`, and by `kiosk` only when named with `only` (the agent runs on the kiosk itself).
    """
    jobs: list[ProbeJob] = []
    problems: list[str] = []
    for probe in probes:
        kind = PROBE_KINDS[probe]
        for entity in inventory.entities:
            if entity.kind != kind or (only is not None and entity.id not in only):
                continue
            if only is None and (
                probe == "kiosk"
                or (probe == "http" and "url" not in entity.attrs)
                or (probe == "link" and not ({"target", "host"} & entity.attrs.keys()))
            ):
                continue
            interval = interval_s or entity.interval_s or DEFAULT_INTERVAL_S[probe]
            try:
                jobs.append(_BUILDERS[probe](entity, interval))
            except ProbeConfigError as exc:
                problems.append(str(exc))
    if only:
        missing = only - {j.entity for j in jobs} - {p.split(":")[0].split("/", 1)[-1] for p in problems}
        problems.extend(f"{name}: no such entity of the probed kinds in the inventory" for name in sorted(missing))
    return jobs, problems


class ProbeRunner:
    """Runs each job on its own interval, several at a time, and hands results to `publish`."""

    def __init__(
        self,
        jobs: list[ProbeJob],
        publish: Callable[[str, str, dict[str, float], float], None],
        *,
        clock: Callable[[], float] = time.time,
        workers: int = 16,
    ):
        self.jobs = jobs
        self.publish = publish
        self.clock = clock
        self.workers = workers
        self.stopping = threading.Event()

    def run_once(self, jobs: list[ProbeJob] | None = None) -> int:
        """Measure the jobs once, concurrently; returns how many published."""
        todo = self.jobs if jobs is None else jobs
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(todo)))) as pool:
            futures = [(job, pool.submit(job.measure)) for job in todo]
            for job, future in futures:
                try:
                    metrics = future.result()
                except Exception:
                    log.exception("%s/%s: probe failed", job.kind, job.entity)
                    continue
                self.publish(job.kind, job.entity, metrics, self.clock())
                done += 1
        return done

    def run(self, rounds: int | None = None) -> None:
        """Until stopped (or for `rounds` passes): each job when it is due."""
        due = dict.fromkeys(range(len(self.jobs)), 0.0)
        passes = 0
        while not self.stopping.is_set():
            now = time.monotonic()
            ready = [i for i, at in due.items() if at <= now]
            if ready:
                self.run_once([self.jobs[i] for i in ready])
                for i in ready:
                    due[i] = now + self.jobs[i].interval_s
                passes += 1
                if rounds is not None and passes >= rounds:
                    return
            self.stopping.wait(max(0.05, min(due.values()) - time.monotonic()))

    def stop(self) -> None:
        self.stopping.set()
