"""`ioc run` as shipped (contract section 11): ingest, alerting and the API in processes of their own.

One Python process cannot take a second core: ingest, alert evaluation and the API together were bound
by one GIL. The supervisor starts each part as a child (`ioc run --role ...`), restarts one that dies
(capped exponential backoff, reset once a child has run for a while), and on SIGTERM or SIGINT stops
them all: SIGTERM to every child, so ingest writes and acknowledges what it holds, then SIGKILL to any
child still running after the grace period.

Ports: the API listens on IOC_HTTP_PORT; alerting on the next port; ingest process i on the one after
that plus i. Each child serves its own /healthz, /readyz and /metrics there; the API's /readyz asks the
others', and its /metrics adds up the counters of every child (prometheus_client's multiprocess mode).
Ingest process 0 keeps IOC_MQTT_CLIENT_ID and IOC_SPOOL_DIR; process i > 0 appends `-{i}` to the client
id and takes a spool folder of its own, so each holds its own persistent session and spool.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ioc.settings import Settings

# The supervisor execs itself into a fresh interpreter that imports only this module and the standard
# library (the `ioc` command's settings, typer and rules checks stay behind): it holds ~15 MB, not ~80.
# Set for the children: each writes its metrics there, and the API process adds them up (ioc.metrics).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger("ioc.supervisor")

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: its name, role and the settings that differ from the supervisor's."""

    name: str
    role: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def default_ingest_processes() -> int:
    """One per core beyond the first, at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


def child_specs(settings: Settings) -> list[ChildSpec]:
    """The processes `ioc run` starts, and the per-process settings each gets."""
    count = settings.ingest_processes or default_ingest_processes()
    base = settings.http_port
    alerts = ChildSpec("alerts", "alerts", base + 1)
    ingest = []
    for i in range(count):
        env = {}
        if i > 0:
            env["IOC_MQTT_CLIENT_ID"] = f"{settings.mqtt_client_id}-{i}"
            env["IOC_SPOOL_DIR"] = str(settings.spool_dir / f"ingest-{i}")
            env["IOC_MQTT_SYS_SAMPLES"] = "false"  # one process stores the broker's figures
        if count == 1 and settings.mqtt_subscription == "auto":
            env["IOC_MQTT_SUBSCRIPTION"] = "plain"  # alone, until another member joins (section 11)
        elif count > 1 and settings.mqtt_subscription == "plain":
            env["IOC_MQTT_SUBSCRIPTION"] = "shared"  # several at once: a plain one would get every message
        ingest.append(ChildSpec(f"ingest-{i}", "ingest", base + 2 + i, env))
    peers = ",".join(f"{spec.url()}/#{spec.name}" for spec in (alerts, *ingest))
    api = ChildSpec("api", "api", base, {"IOC_PEER_URLS": peers})
    return [api, alerts, *ingest]


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the supervisor dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _spawn(spec: ChildSpec, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "ioc", "run", "--role", spec.role]
    # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which stops the children
    # in order; preexec only sets the parent-death signal (no locks are taken there).
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, env=env, start_new_session=True, preexec_fn=_die_with_parent
    )


class _Child:
    def __init__(self, spec: ChildSpec):
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.failures = 0  # consecutive short-lived runs
        self.restart_at: float | None = None


class Supervisor:
    """Starts the children, restarts those that die, stops all on request."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        base_env: dict[str, str] | None = None,
        spawn: Callable[[ChildSpec, dict[str, str]], subprocess.Popen[bytes]] = _spawn,
        clock: Callable[[], float] = time.monotonic,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        stable_after_s: float = 60.0,
        grace_s: float = 20.0,
        poll_s: float = 0.2,
    ):
        self.children = [_Child(s) for s in specs]
        self.base_env = dict(os.environ if base_env is None else base_env)
        self._spawn = spawn
        self._clock = clock
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.stable_after_s, self.grace_s, self.poll_s = stable_after_s, grace_s, poll_s
        self._stop = threading.Event()
        self.restarts = 0
        self.metrics_dir: Path | None = None

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        """Supervise until request_stop(); returns 0 after a clean stop."""
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="ioc-metrics-"))
        try:
            for child in self.children:
                self._start(child)
            while not self._stop.wait(self.poll_s):
                self.check()
            return self._stop_all()
        finally:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def check(self) -> None:
        """One round: note children that exited, restart those whose backoff ran out."""
        now = self._clock()
        for child in self.children:
            if child.proc is not None and (code := child.proc.poll()) is not None:
                self._mark_dead(child)
                ran = now - child.started_at
                child.failures = 0 if ran >= self.stable_after_s else child.failures + 1
                delay = (
                    0.0
                    if child.failures == 0
                    else min(self.backoff_max_s, self.backoff_base_s * 2 ** (child.failures - 1))
                )
                log.error(
                    "%s (pid %d) exited with %s after %.1f s; restarting in %.1f s",
                    child.spec.name, child.proc.pid, _describe_exit(code), ran, delay,
                )  # fmt: skip
                child.proc, child.restart_at = None, now + delay
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self.restarts += 1
                self._start(child)

    def _start(self, child: _Child) -> None:
        env = {**self.base_env, **child.spec.env, "IOC_HTTP_PORT": str(child.spec.port)}
        if self.metrics_dir is not None:
            env[MULTIPROC_ENV] = str(self.metrics_dir)
        child.proc = self._spawn(child.spec, env)
        child.started_at, child.restart_at = self._clock(), None
        log.info("started %s (pid %d, port %d)", child.spec.name, child.proc.pid, child.spec.port)

    def _mark_dead(self, child: _Child) -> None:
        if self.metrics_dir is not None and child.proc is not None:
            # prometheus_client's multiprocess.mark_process_dead, without importing the library here:
            # the files of live-mode gauges of a dead process go, so its last values stop counting.
            for path in self.metrics_dir.glob(f"gauge_live*_{child.proc.pid}.db"):
                path.unlink(missing_ok=True)

    def _stop_all(self) -> int:
        # Ingest first, so what it writes in its last batches is still announced to a running alerting.
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        order = sorted(running, key=lambda c: {"ingest": 0, "alerts": 1, "api": 2}[c.spec.role])
        for child in order:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        code = 0
        for child in order:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("%s did not stop within %.0f s; killing it", child.spec.name, self.grace_s)
                child.proc.kill()
                child.proc.wait()
                code = 1
        log.info("all processes stopped")
        return code


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def supervise(settings: Settings) -> int:
    """`ioc run` without --role: become the supervisor of every part (this process is replaced)."""
    import json

    specs = [{"name": c.name, "role": c.role, "port": c.port, "env": c.env} for c in child_specs(settings)]
    argv = [sys.executable, "-m", "ioc.supervisor", settings.log_level, json.dumps(specs)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module
    return 1  # not reached


def main(argv: Sequence[str]) -> int:
    """The supervisor's own interpreter: `python -m ioc.supervisor LOG_LEVEL SPECS_JSON`."""
    import json

    level, specs_json = argv
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    specs = [ChildSpec(**spec) for spec in json.loads(specs_json)]
    supervisor = Supervisor(specs)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    log.info("ioc run: %s", ", ".join(f"{s.name} on port {s.port}" for s in specs))
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
