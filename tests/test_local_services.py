"""The project's own PostgreSQL and Mosquitto: run unprivileged, accept connections, stop on stop()."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from ioc.local_services import (
    FALLBACK_ROOT,
    Account,
    LocalMosquitto,
    LocalPostgres,
    LocalServiceError,
    broker_config,
    pg_test_cluster,
    project_root,
    read_test_dsn,
    start_test_cluster,
    state_dir,
)

AS_ROOT = os.geteuid() == 0


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def gone(pid: int, within_s: float = 30.0) -> bool:
    """Whether the process exits (or is only a zombie) before the deadline."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """A var/ every account can traverse to (unlike pytest's tmp_path under a 0700 directory, as root)."""
    path = Path(tempfile.mkdtemp(prefix="ioc-local-services-"))
    path.chmod(0o755)
    yield path / "var"
    shutil.rmtree(path)


def test_postgres_runs_unprivileged_on_its_socket_only_and_stops(var_dir: Path) -> None:
    account = Account.for_service("postgres")
    data = state_dir("pg", account, var_dir) / "data"
    assert data.parent == var_dir / "pg"
    pg = LocalPostgres(data, account=account)
    assert pg.initialise() is True
    assert pg.initialise() is False, "a second call keeps the cluster"
    pg.start()
    try:
        assert pg.proc is not None
        pid = pg.proc.pid
        assert process_uid(pid) == account.uid != 0
        with psycopg.connect(pg.dsn()) as conn:
            assert conn.execute("SELECT current_user, inet_server_addr()").fetchone() == ("postgres", None)
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", connect_timeout=3)
    finally:
        code = pg.stop()
    assert code == 0
    assert gone(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn(), connect_timeout=3)


def test_postgres_with_tcp_asks_loopback_clients_for_the_password(var_dir: Path) -> None:
    account = Account.for_service("postgres")
    pg = LocalPostgres(state_dir("pg-tcp", account, var_dir) / "data", account=account, tcp_password="s3cret/pw")
    with pg:
        with psycopg.connect(pg.tcp_dsn()) as conn:
            assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", connect_timeout=3)


@pytest.mark.skipif(not AS_ROOT, reason="only root runs the services as other accounts")
def test_state_dir_moves_out_of_a_var_the_account_cannot_reach(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    account = Account.for_service("postgres")
    assert not account.can_reach(private / "var")
    path = state_dir("pg", account, private / "var")
    try:
        assert path.parent.parent == FALLBACK_ROOT
        assert path.parent.name.startswith("ioc-")
        assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (account.uid, 0o700)
        assert account.can_reach(path)
        assert state_dir("pg", account, private / "var") == path, "the same project always gets the same place"
    finally:
        shutil.rmtree(path.parent)


@pytest.mark.skipif(not AS_ROOT, reason="only root runs the services as other accounts")
def test_state_dir_refuses_a_fallback_directory_someone_else_made(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    digest = hashlib.sha256(str((private / "var").resolve()).encode()).hexdigest()[:12]
    planted = FALLBACK_ROOT / f"ioc-{digest}"
    planted.mkdir()
    try:
        nobody = pwd.getpwnam("nobody")
        os.chown(planted, nobody.pw_uid, nobody.pw_gid)
        with pytest.raises(LocalServiceError, match=f"^{planted} is not a directory of this user's"):
            state_dir("pg", Account.for_service("postgres"), private / "var")
        assert list(planted.iterdir()) == []
    finally:
        shutil.rmtree(planted)


def test_postgres_stops_when_the_process_that_started_it_dies(var_dir: Path) -> None:
    """A demo killed with SIGKILL leaves no server behind."""
    account = Account.for_service("postgres")
    data = state_dir("pg-orphan", account, var_dir) / "data"
    starter = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ioc.local_services import Account, LocalPostgres\n"
        f"pg = LocalPostgres(Path({str(data)!r}), account=Account.for_service('postgres')).start()\n"
        "print(pg.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(project_root()))
    proc = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        server = int(proc.stdout.readline())
        assert not gone(server, within_s=0.5)
    finally:
        proc.kill()
        proc.wait()
    assert gone(server), "postgres outlived the process that started it"


def test_broker_config_keeps_the_project_limits_and_listens_on_loopback_only() -> None:
    project = (project_root() / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    conf = broker_config(project, 18830, Path("/srv/x"))
    lines = conf.splitlines()
    for kept in ("max_queued_messages 5000000", "max_inflight_messages 0", "max_packet_size 1048576",
                 "persistence true", "persistent_client_expiration 14d"):  # fmt: skip
        assert kept in lines
    assert "listener 18830 127.0.0.1" in lines
    assert "persistence_location /srv/x/" in lines
    assert not [line for line in lines if line.split()[:1] in (["password_file"], ["acl_file"], ["listener"])
                and line != "listener 18830 127.0.0.1"]  # fmt: skip
    assert [line for line in lines if line.startswith("allow_anonymous")] == ["allow_anonymous true"]


def test_mosquitto_runs_unprivileged_delivers_and_stops(var_dir: Path) -> None:
    account = Account.for_service("mosquitto")
    broker = LocalMosquitto(state_dir("mqtt", account, var_dir), account=account)
    broker.start()
    try:
        assert broker.proc is not None
        pid = broker.proc.pid
        assert process_uid(pid) == account.uid != 0
        assert "max_queued_messages 5000000" in broker.conf_file.read_text()
        got: list[bytes] = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="local-services-test")
        client.on_message = lambda _c, _u, msg: got.append(msg.payload)
        client.connect("127.0.0.1", broker.port)
        client.subscribe("ioc/v1/test", qos=1)
        client.loop_start()
        try:
            client.publish("ioc/v1/test", b"hello", qos=1).wait_for_publish(10)
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.loop_stop()
            client.disconnect()
        assert got == [b"hello"]
    finally:
        code = broker.stop()
    assert code == 0
    assert gone(pid)
    assert (broker.state / "mosquitto.db").is_file(), "persistence saved under the broker's own directory"


def test_test_cluster_runs_detached_writes_its_dsn_and_stops(var_dir: Path) -> None:
    dsn = start_test_cluster(var_dir)
    cluster = pg_test_cluster(var_dir)
    try:
        assert read_test_dsn(var_dir) == dsn
        assert (var_dir / "test-pg.env").stat().st_mode & 0o777 == 0o600
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        pid = cluster.running_pid()
        assert pid is not None
        assert start_test_cluster(var_dir) == dsn, "a running test cluster is reused"
        assert cluster.running_pid() == pid
    finally:
        stopped = cluster.stop_detached()
    assert stopped
    assert gone(pid)
    assert cluster.running_pid() is None
