"""The project's own Mosquitto, on the project's broker configuration and a port of its own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ioc.local_services.common import (
    Account,
    LocalServiceError,
    _stop_process,
    _tail,
    _write,
    die_with_parent,
    free_port,
    project_root,
)

_LOCAL_BROKER_OWNS = {
    "listener", "protocol", "password_file", "acl_file", "allow_anonymous", "persistence_location",
    "log_dest", "certfile", "keyfile", "cafile", "tls_version", "require_certificate", "user", "pid_file",
}  # fmt: skip


def broker_config(project_conf: str, port: int, persistence_dir: Path) -> str:
    """The project's broker config (queue, in-flight and packet limits, persistence) on loopback only.

    Anonymous clients are allowed since nothing but this machine reaches the listener.
    """
    kept = []
    for line in project_conf.splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and words[0] not in _LOCAL_BROKER_OWNS:
            kept.append(line)
    return "\n".join([
        "# Written by ioc.local_services from deploy/mosquitto/mosquitto.conf.",
        *kept,
        f"listener {port} 127.0.0.1",
        "protocol mqtt",
        "allow_anonymous true",
        f"persistence_location {persistence_dir}/",
        f"log_dest file {persistence_dir}/mosquitto.log",
        "",
    ])  # fmt: skip


class LocalMosquitto:
    """A Mosquitto of our own with the project's broker config, on a free loopback port.

    Like LocalPostgres attached: a session of its own, and SIGTERM should this process die without stopping it.
    """

    def __init__(self, state: Path, *, account: Account, port: int | None = None, project_conf: Path | None = None):
        self.state = state
        self.account = account
        self.port = port or free_port()
        self.project_conf = project_conf or project_root() / "deploy" / "mosquitto" / "mosquitto.conf"
        self.conf_file = state / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> LocalMosquitto:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.access(exe, os.X_OK):
            raise LocalServiceError("mosquitto is not installed: run scripts/setup")
        conf = broker_config(self.project_conf.read_text(encoding="utf-8"), self.port, self.state)
        _write(self.conf_file, conf, self.account)
        self.proc = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [exe, "-c", str(self.conf_file)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, cwd=self.state, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM),
            **self.account.popen_kwargs(),
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = _tail(self.state / "mosquitto.log")
                raise LocalServiceError(f"mosquitto exited with code {self.proc.returncode}: {err.strip()}\n{log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LocalServiceError(f"mosquitto did not listen on {self.url} in {timeout_s:.0f} s") from None
                time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM: Mosquitto saves its persistence file and exits."""
        if self.proc is None:
            return None
        code = _stop_process(self.proc, signal.SIGTERM, timeout_s)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None
        return code

    def __enter__(self) -> LocalMosquitto:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# The test cluster `scripts/setup --test` starts; the tests read its DSN from TEST_PG_ENV.
