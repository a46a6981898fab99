"""The project's own PostgreSQL cluster (`ioc demo`, the benches, and the test cluster `scripts/setup --test`
starts when the system PostgreSQL does not let `postgres` in without a password)."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psycopg

from ioc.local_services.common import (
    MAX_SOCKET_PATH,
    PG_BIN_GLOB,
    Account,
    LocalServiceError,
    _stop_process,
    _tail,
    _write,
    die_with_parent,
    free_port,
    project_root,
    state_dir,
)


def postgres_bin_dir(version: str | None = None) -> Path:
    """The newest installed PostgreSQL server's bin directory, or the one of `version`."""
    found = sorted(
        (p for p in Path("/").glob(PG_BIN_GLOB.lstrip("/")) if (p / "postgres").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if version is not None:
        found = [p for p in found if p.parent.name == version]
    if not found:
        wanted = f"PostgreSQL {version}" if version else "the PostgreSQL server"
        raise LocalServiceError(f"{wanted} is not installed (no {PG_BIN_GLOB}/postgres): run scripts/setup")
    return found[-1]


class LocalPostgres:
    """A PostgreSQL cluster of our own: trust on its own Unix socket, TCP only on loopback with a password."""

    def __init__(
        self,
        data_dir: Path,
        *,
        account: Account,
        port: int | None = None,
        tcp_password: str | None = None,
        bin_dir: Path | None = None,
    ):
        self.data_dir = data_dir
        self.account = account
        self.port = port or free_port()
        # None: no TCP at all; otherwise 127.0.0.1 with scram-sha-256 for user postgres.
        self.tcp_password = tcp_password
        self.bin_dir = bin_dir
        self.log_file = data_dir.parent / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    @property
    def socket_dsn_host(self) -> str:
        return quote(str(self.socket_dir), safe="")

    def dsn(self, dbname: str = "postgres") -> str:
        """Over the Unix socket (the socket directory percent-encoded in the host part)."""
        return f"postgresql://postgres@{self.socket_dsn_host}:{self.port}/{dbname}"

    def tcp_dsn(self, dbname: str = "postgres") -> str:
        if self.tcp_password is None:
            raise LocalServiceError("this cluster does not listen on TCP")
        return f"postgresql://postgres:{quote(self.tcp_password, safe='')}@127.0.0.1:{self.port}/{dbname}"

    def _bin(self, name: str) -> str:
        if self.bin_dir is None:
            version_file = self.data_dir / "PG_VERSION"
            version = version_file.read_text().strip() if version_file.is_file() else None
            self.bin_dir = postgres_bin_dir(version)
        return str(self.bin_dir / name)

    def initialise(self) -> bool:
        """initdb into the data directory unless it holds a cluster already; True when it created one."""
        if (self.data_dir / "PG_VERSION").is_file():
            return False
        if len(str(self.socket_dir / f".s.PGSQL.{self.port}")) > MAX_SOCKET_PATH:
            raise LocalServiceError(f"{self.socket_dir} is too long a path for a Unix socket: move the project")
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.account.own(self.data_dir)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        _write(pwfile, (self.tcp_password or secrets.token_urlsafe(24)) + "\n", self.account)
        try:
            result = subprocess.run(  # noqa: S603 - our own binary and arguments
                [self._bin("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--pwfile", str(pwfile),
                 "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                 "--no-instructions"],
                capture_output=True, check=False, **self.account.popen_kwargs(),
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalServiceError(f"initdb failed in {self.data_dir}:\n{result.stderr.decode(errors='replace')}")
        self._write_hba()
        return True

    def _write_hba(self) -> None:
        """Trust on the cluster's own socket; over TCP on loopback every role by its password (the tests'
        read-only Grafana role too). Rewritten at each start, so a cluster made by an older version follows."""
        hba = ["# Written by ioc.local_services: trust on the cluster's own socket (directory mode 0700)."]
        hba.append("local all all trust")
        if self.tcp_password is not None:
            hba.append("host all all 127.0.0.1/32 scram-sha-256")
        _write(self.data_dir / "pg_hba.conf", "\n".join(hba) + "\n", self.account)

    def _options(self) -> list[str]:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1" if self.tcp_password is not None else "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            # A demo and test store: losing the last commits in a power cut is fine, waiting on fsync is not.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        args = ["-D", str(self.data_dir)]
        if self.bin_dir is not None and (self.bin_dir.parent / "lib" / "timescaledb.so").is_file():
            args += ["-c", "shared_preload_libraries=timescaledb"]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        return args

    def start(self, *, detach: bool = False, timeout_s: float = 60.0) -> LocalPostgres:
        """Start the server and wait until it accepts connections.

        Attached (the default), it runs in a session of its own, so the terminal's Ctrl-C reaches only this
        process, which stops the server after its clients; and it gets SIGINT (fast shutdown) should this
        process die without stopping it. Detached (pg_ctl), it outlives this process (for the test
        cluster) and `stop_detached` ends it.
        """
        if not self.initialise():
            self._write_hba()
        options = self._options()  # finds the binaries first
        if detach:
            # pg_ctl waits for the server to accept connections and leaves it running on its own.
            result = subprocess.run(  # noqa: S603 - our own binary and arguments
                [self._bin("pg_ctl"), "start", "-w", "-t", f"{timeout_s:.0f}", "-D", str(self.data_dir),
                 "-l", str(self.log_file), "-o", shlex.join(options)],
                capture_output=True, cwd=self.data_dir.parent, check=False, **self.account.popen_kwargs(),
            )  # fmt: skip
            if result.returncode != 0:
                raise LocalServiceError(
                    f"pg_ctl start failed: {result.stderr.decode(errors='replace').strip()}; "
                    f"{self.log_file} ends:\n{_tail(self.log_file)}"
                )
            return self
        with open(self.log_file, "ab") as log:  # the server keeps its own copy of the descriptor
            self.account.own(self.log_file)
            self.proc = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                [self._bin("postgres"), *options], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.data_dir.parent, start_new_session=True, preexec_fn=die_with_parent(signal.SIGINT),
                **self.account.popen_kwargs(),
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise LocalServiceError(
                    f"postgres exited with code {self.proc.returncode}; {self.log_file} ends:\n{_tail(self.log_file)}"
                )
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LocalServiceError(f"postgres did not accept connections within {timeout_s:.0f} s") from None
                time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Fast shutdown (SIGINT): clients are disconnected, the cluster is left consistent."""
        code = None
        if self.proc is not None:
            code = _stop_process(self.proc, signal.SIGINT, timeout_s)
            self.proc = None
        return code

    def port_in_use(self) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return (self.socket_dir / f".s.PGSQL.{self.port}").exists()

    def running_pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid when that process is alive, for a detached server."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop_detached(self, timeout_s: float = 30.0) -> bool:
        """Stop a server started detached (by another process); True when one was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while self.running_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running_pid() == pid:
            os.kill(pid, signal.SIGQUIT)
        return True

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# Directives of the project's broker config that a local broker sets for itself (listener, files, logging).

TEST_PG_ENV = "test-pg.env"


def pg_test_cluster(var_dir: Path | None = None) -> LocalPostgres:
    """The test cluster: loopback TCP (several tests put a TCP proxy in front of the store) with a password."""
    var_dir = var_dir or project_root() / "var"
    account = Account.for_service("postgres")
    data = state_dir("test-pg", account, var_dir) / "data"
    env_file = var_dir / TEST_PG_ENV
    port, password = None, None
    if env_file.is_file():
        saved = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        port = int(saved["IOC_TEST_PG_PORT"]) if "IOC_TEST_PG_PORT" in saved else None
        password = saved.get("IOC_TEST_PG_PASSWORD")
    if password is None and (data / "PG_VERSION").is_file():
        raise LocalServiceError(f"{env_file} with the test cluster's password is gone: remove {data} to start afresh")
    return LocalPostgres(data, account=account, port=port, tcp_password=password or secrets.token_urlsafe(24))


def start_test_cluster(var_dir: Path | None = None) -> str:
    """Start the test cluster unless it runs; write var/test-pg.env; return its DSN."""
    var_dir = var_dir or project_root() / "var"
    cluster = pg_test_cluster(var_dir)
    if cluster.running_pid() is None:
        if cluster.port_in_use():
            cluster.port = free_port()
        cluster.start(detach=True)
    dsn = cluster.tcp_dsn()
    env = f"IOC_TEST_PG_DSN={dsn}\nIOC_TEST_PG_PORT={cluster.port}\nIOC_TEST_PG_PASSWORD={cluster.tcp_password}\n"
    env_file = var_dir / TEST_PG_ENV
    env_file.write_text(env, encoding="utf-8")
    os.chmod(env_file, 0o600)
    return dsn


def read_test_dsn(var_dir: Path | None = None) -> str | None:
    """IOC_TEST_PG_DSN from var/test-pg.env, when setup started the test cluster."""
    env_file = (var_dir or project_root() / "var") / TEST_PG_ENV
    if not env_file.is_file():
        return None
    for line in env_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("IOC_TEST_PG_DSN="):
            return line.split("=", 1)[1]
    return None
