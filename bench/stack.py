"""What the ingest bench runs against: a private Mosquitto with the project's broker config, a fresh
migrated database with an inventory, and `ioc run` as shipped, each through its own command."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
SERVICE_USER = "ioc"  # the service's account of deploy/mosquitto/acl.example
PUBLISHER_USER = "ioc-simulator"  # added to that ACL here: it may publish under every entity


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode}") from None
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


class Broker:
    """Mosquitto with deploy/mosquitto/mosquitto.conf and its pattern ACL (acl.example, plus the simulator's
    account); only the listener, the paths and the log destination are changed, and the password file
    is made for the two accounts the bench uses."""

    def __init__(self, workdir: Path):
        self.workdir = workdir / "broker"
        self.workdir.mkdir()
        if os.geteuid() == 0:  # mosquitto started as root drops to its own user: let it in
            workdir.chmod(0o711)
            shutil.chown(self.workdir, user="mosquitto", group="mosquitto")
        self.port = free_port()
        self.passwords = {SERVICE_USER: secrets.token_urlsafe(12), PUBLISHER_USER: secrets.token_urlsafe(12)}
        self.proc: subprocess.Popen | None = None

    def conf_text(self) -> str:
        lines = []
        for line in (ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key == "listener":
                line = f"listener {self.port} 127.0.0.1"
            elif key == "password_file":
                line = f"password_file {self.workdir}/passwd"
            elif key == "acl_file":
                line = f"acl_file {self.workdir}/acl"
            elif key == "persistence_location":
                line = f"persistence_location {self.workdir}/"
            elif key == "log_dest":
                line = f"log_dest file {self.workdir}/mosquitto.log"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def start(self) -> Broker:
        acl = (ROOT / "deploy/mosquitto/acl.example").read_text()
        (self.workdir / "acl").write_text(f"{acl}\nuser {PUBLISHER_USER}\ntopic write ioc/v1/#\n")
        passwd = self.workdir / "passwd"
        for user, password in self.passwords.items():
            flags = ["-b"] if passwd.exists() else ["-c", "-b"]
            subprocess.run(["mosquitto_passwd", *flags, str(passwd), user, password], check=True)
        if os.geteuid() == 0:
            for path in (passwd, self.workdir / "acl"):
                shutil.chown(path, user="mosquitto", group="mosquitto")
        (self.workdir / "mosquitto.conf").write_text(self.conf_text())
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self.workdir / "mosquitto.conf")])
        wait_listening(self.port, self.proc, "mosquitto")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, user: str) -> str:
        return f"mqtt://{user}:{self.passwords[user]}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def service_env(dsn: str, mqtt_url: str, http_port: int, workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of every `ioc` command: the caller's, pointed at the bench's broker and store."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        IOC_DATABASE_URL=dsn,
        IOC_MQTT_URL=mqtt_url,
        IOC_HTTP_PORT=str(http_port),
        IOC_HTTP_HOST="127.0.0.1",
        IOC_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        IOC_SPOOL_DIR=str(workdir / "spool"),
    )
    env.update(extra)
    return env


def ioc_command(*args: str) -> list[str]:
    """`ioc ARGS` from the source tree the bench lives in (not whatever `ioc` is installed)."""
    return [sys.executable, "-c", "from ioc.cli import main; main()", *args]


def fresh_database(admin_dsn: str, name: str, env: dict[str, str], inventory: Path, workdir: Path) -> str:
    """Drop and recreate `name`, then `ioc migrate` and `ioc inventory load`; returns their output."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = []
    for args in (("migrate",), ("inventory", "load", str(inventory))):
        done = subprocess.run(ioc_command(*args), env=env, cwd=workdir, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ioc {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        out.append(done.stdout.strip())
    return "\n".join(out)


class IocRun:
    """`ioc run` (default roles) as a process of its own, in its own process group; output to a log."""

    def __init__(self, env: dict[str, str], http_port: int, workdir: Path):
        self.env, self.http_port, self.workdir = env, http_port, workdir
        self.log = workdir / "ioc-run.log"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> IocRun:
        self.started = time.time()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ioc_command("run"), env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exit_code(self) -> int | None:
        """None while it runs."""
        return self.proc.poll() if self.proc else None

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds from the start until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"ioc run exited with code {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return time.time() - self.started
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ioc run not ready within {timeout} s; see {self.log}")

    def processes(self) -> list[psutil.Process]:
        """The `ioc run` process and all its descendants, whatever the process layout."""
        assert self.proc is not None
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, as an operator stops it; says how it went (and kills what is left, by pid)."""
        if self.proc is None or self.proc.poll() is not None:
            return f"ioc run had already exited with code {self.proc.returncode if self.proc else None}"
        tree = self.processes()
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
            verdict = f"ioc run stopped on SIGTERM in {time.monotonic() - started:.1f} s, exit code {code}"
        except subprocess.TimeoutExpired:
            verdict = f"ioc run still running {timeout:.0f} s after SIGTERM: killed"
            self.proc.kill()
            self.proc.wait()
        _, alive = psutil.wait_procs(tree[1:], timeout=5)
        for child in alive:
            verdict += f"; child {child.pid} outlived it: killed"
            child.kill()
        return verdict

    def log_problems(self, limit: int = 8) -> tuple[int, list[str]]:
        """How many ERROR/CRITICAL/Traceback lines the log has, and the first few distinct ones."""
        pattern = re.compile(r"\b(ERROR|CRITICAL|Traceback)\b")
        hits = [line for line in self.log.read_text(errors="replace").splitlines() if pattern.search(line)]
        distinct = list(dict.fromkeys(re.sub(r"^\S+ \S+ ", "", line) for line in hits))
        return len(hits), distinct[:limit]
