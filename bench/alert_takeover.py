"""Alerting handover benchmark: one command, prints figures (not a test).

    .venv/bin/python bench/alert_takeover.py [--kiosks 2000] [--services 300] [--links 500] [--down 400] [--kills 5]

A fresh database `ioc_bench_takeover` on the local PostgreSQL with an inventory of --kiosks kiosks over
20 sites, --links links and --services service systems, whose `up` (6 h, the SLO burn rate's window)
and `response_ms` (the p95's 5 minutes) a standby must read back to prime its windows (the links' `up`,
6 h every 15 s, it need not: no rule keeps a window of it). Two
`ioc run --role alerts` processes as shipped (default IOC_ALERT_LEASE_S and group wait), a local
webhook counting pages. --down kiosks go offline at once (one status change each, as the ingest writer
commits them); once their pages are out:
- --kills times, kill -9 of the leader: seconds from the kill until the standby's `ioc_alerts_leader`
  is 1 (set once its engine is built from the store), and the load time it logs;
- one SIGSTOP of the leader: seconds until the standby leads (the lease must run out first), and
  whether the old one, sent SIGCONT, stands by and sends nothing;
- all kiosks back, the leader killed before the resolved pages leave: seconds to take over, and the
  resolved pages counted.
Pages expected, sent and doubled are printed; a doubled or missing page is a failure of the handover.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack import free_port, fresh_database, ioc_command, service_env

from ioc.store.batch import COMMITTED_CHANNEL

ADMIN_DSN = os.environ.get("IOC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "ioc_bench_takeover"
SITES = 20
KIOSK_DOWN = """
rules:
  - name: kiosk_down
    kind: kiosk
    type: down
    severity: critical
    summary: {vi: "{name} mất kết nối", en: "{name} is down"}
"""


class Pages:
    """A webhook receiver: every alert of every message, as (status, entity)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with pages.lock:
                    pages.seen += [(a["status"], a["labels"]["entity"]) for a in body["alerts"]]
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, status: str) -> Counter[str]:
        with self.lock:
            return Counter(e for s, e in self.seen if s == status)


class Alerts:
    def __init__(self, name: str, env: dict[str, str], workdir: Path):
        self.name, self.port = name, free_port()
        self.env = {**env, "IOC_HTTP_PORT": str(self.port)}
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Alerts:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(ioc_command("run", "--role", "alerts"), env=self.env, stdout=out, stderr=out)
        until(lambda: self.leader() is not None, 60, f"{self.name} answering")
        return self

    def leader(self) -> float | None:
        import httpx

        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=0.5).text
        except httpx.HTTPError:
            return None
        found = re.search(r"^ioc_alerts_leader (\S+)$", text, re.M)
        return float(found.group(1)) if found else None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            self.proc.wait(10)

    def load_time(self) -> str:
        found = re.findall(r"state loaded in ([0-9.]+) s", self.log.read_text())
        return found[-1] if found else "?"

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


def until(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.02)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def inventory(kiosks: int, services: int, links: int) -> str:
    lines = ["agencies: [{id: so-tttt, name: 'Sở TT&TT'}]", "sites:"]
    lines += [f"  - {{id: site-{s:02d}, name: 'Xã {s:02d}'}}" for s in range(SITES)]
    lines.append("entities:")
    lines += [
        f"  - {{kind: kiosk, id: kiosk-{i:05d}, name: 'Kiosk {i}', site: site-{i % SITES:02d}, agency: so-tttt,"
        " interval_s: 3600}"
        for i in range(kiosks)
    ]
    lines += [
        f"  - {{kind: service, id: svc-{i:04d}, name: 'Hệ thống {i}', system: dvc_portal, agency: so-tttt,"
        f" site: site-{i % SITES:02d}, interval_s: 3600}}"
        for i in range(services)
    ]
    lines += [
        f"  - {{kind: link, id: wan-{i:04d}, name: 'Đường truyền {i}', site: site-{i % SITES:02d}, interval_s: 3600}}"
        for i in range(links)
    ]
    return "\n".join(lines) + "\n"


def history(dsn: str, services: int, links: int) -> tuple[int, int]:
    """Every 30 s for each service, 6 h of `up` and 10 min of `response_ms`: what a standby primes from;
    every 15 s for each link, 6 h of `up`. Returns (samples to prime, samples in all)."""
    series = (
        ("service", "svc-", services, "up", 360, 30, "1.0"),
        ("service", "svc-", services, "response_ms", 10, 30, "200 + random() * 50"),
        ("link", "wan-", links, "up", 360, 15, "1.0"),
    )
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT ioc_ensure_partitions(current_date - 1, current_date + 1)")
        for kind, prefix, count, metric, minutes, every, value in series:
            conn.execute(
                "INSERT INTO series (kind, entity, metric) SELECT %s, %s || lpad(i::text, 4, '0'), %s "
                "FROM generate_series(0, %s - 1) i",
                (kind, prefix, metric, count),
            )
            conn.execute(
                f"INSERT INTO samples (series_id, ts, value) SELECT s.id, t, {value} FROM series s, "
                "generate_series(now() - make_interval(mins => %s), now() - make_interval(secs => %s), "
                "make_interval(secs => %s)) t WHERE s.metric = %s AND s.kind = %s",
                (minutes, every, every, metric, kind),
            )
        rows = conn.execute(
            "SELECT count(*) FILTER (WHERE s.kind = 'service'), count(*) "
            "FROM samples x JOIN series s ON s.id = x.series_id"
        ).fetchone()
    return (int(rows[0]), int(rows[1])) if rows else (0, 0)


def set_status(dsn: str, kiosks: list[str], status: str) -> None:
    """As the ingest writer commits status messages: entities, status_changes, one NOTIFY."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE entities SET mqtt_status = %s, mqtt_status_at = now() WHERE kind = 'kiosk' AND id = ANY(%s)",
            (status, kiosks),
        )
        conn.execute(
            "INSERT INTO status_changes (kind, entity, ts, status) "
            "SELECT 'kiosk', k, now(), %s FROM unnest(%s::text[]) k",
            (status, kiosks),
        )
        conn.execute("SELECT pg_notify(%s, %s)", (COMMITTED_CHANNEL, orjson.dumps({"status": True}).decode()))


def open_alerts(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM alerts WHERE state = 'firing'").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=2000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--down", type=int, default=400)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ioc-bench-takeover-"))
    pages = Pages()
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + DB
    env = service_env(dsn, f"mqtt://127.0.0.1:{free_port()}", free_port(), workdir, {
        "IOC_TIMESCALEDB": "off", "IOC_ALERT_WEBHOOK_URLS": pages.url, "IOC_ALERT_TOPOLOGY_HOLD_S": "0",
        "IOC_PUBLIC_URL": "https://ioc.example",
    })  # fmt: skip
    # The shipped kiosk_down without its 3-minute keep_firing_for, so the resolved pages come at once.
    rules = workdir / "rules"
    rules.mkdir()
    (rules / "kiosk.yaml").write_text(KIOSK_DOWN, encoding="utf-8")
    env["IOC_RULES_DIR"] = str(rules)
    (workdir / "inventory.yaml").write_text(inventory(args.kiosks, args.services, args.links), encoding="utf-8")
    fresh_database(ADMIN_DSN, DB, env, workdir / "inventory.yaml", workdir)
    primed, samples = history(dsn, args.services, args.links)
    lease = os.environ.get("IOC_ALERT_LEASE_S", "10 (default)")
    print(f"store: {args.kiosks} kiosks, {args.services} services, {args.links} links, {samples} samples of "
          f"which {primed} to prime; lease {lease} s")  # fmt: skip

    a, b = Alerts("alerts-a", env, workdir), Alerts("alerts-b", env, workdir)
    procs = [a, b]
    try:
        a.start()
        until(lambda: a.leader() == 1.0, 60, "a leads")
        b.start()
        down = [f"kiosk-{i:05d}" for i in range(0, args.kiosks, max(1, args.kiosks // args.down))][: args.down]
        set_status(dsn, down, "offline")
        until(lambda: len(pages.count("firing")) == len(down), 120, "every down kiosk paged")
        print(f"{len(down)} kiosks down: {open_alerts(dsn)} firing alerts, pages for {len(pages.count('firing'))}")

        leader, standby = a, b
        kills = []
        for _ in range(args.kills):
            started = time.monotonic()
            leader.signal(signal.SIGKILL)
            until(lambda s=standby: s.leader() == 1.0, 60, "the standby leads")
            kills.append((time.monotonic() - started, standby.load_time()))
            leader.start()
            leader, standby = standby, leader
            time.sleep(1.0)
        print("kill -9 of the leader -> standby leading (s): "
              + ", ".join(f"{t:.2f} (load {load} s)" for t, load in kills))  # fmt: skip

        started = time.monotonic()
        leader.signal(signal.SIGSTOP)
        until(lambda: standby.leader() == 1.0, 60, "the standby leads")
        hung = time.monotonic() - started
        time.sleep(1.0)
        leader.signal(signal.SIGCONT)
        woke = until(lambda: leader.leader() == 0.0, 30, "the old leader stands by")
        print(f"SIGSTOP of the leader -> standby leading: {hung:.2f} s (load {standby.load_time()} s); "
              f"the old one stood by {woke:.2f} s after SIGCONT")  # fmt: skip
        leader, standby = standby, leader
        time.sleep(2.0)  # the new leader takes the lock the old one let go (alerts/leadership.py)

        set_status(dsn, down, "online")
        until(lambda: open_alerts(dsn) == 0, 60, "every alert resolved")
        resolved_before = sum(pages.count("resolved").values())
        started = time.monotonic()
        leader.signal(signal.SIGKILL)
        until(lambda: standby.leader() == 1.0, 60, "the standby leads")
        print(f"kill -9 before the resolved pages ({resolved_before} of {len(down)} out): standby leading in "
              f"{time.monotonic() - started:.2f} s (load {standby.load_time()} s)")  # fmt: skip
        until(lambda: len(pages.count("resolved")) == len(down), 60, "every kiosk's resolved page")
        time.sleep(6.0)  # a doubled page would be out by now
        firing, resolved = pages.count("firing"), pages.count("resolved")
        print(f"pages: firing {sum(firing.values())} for {len(down)} kiosks "
              f"(doubled {sum(n - 1 for n in firing.values())}, missing {len(set(down) - set(firing))}); "
              f"resolved {sum(resolved.values())} (doubled {sum(n - 1 for n in resolved.values())}, "
              f"missing {len(set(down) - set(resolved))})")  # fmt: skip
    finally:
        for proc in procs:
            proc.close()
        pages.server.shutdown()
        print(f"logs in {workdir}")


if __name__ == "__main__":
    main()
