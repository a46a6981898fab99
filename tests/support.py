"""Helpers the tests share: test data paths, free loopback ports and a private Mosquitto broker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt

TESTDATA_DIR = Path(__file__).resolve().parent / "testdata"
# Real Telegraf output (the input plugins' README examples) that the contract says to test against.
TELEGRAF_LINE_PROTOCOL = TESTDATA_DIR / "telegraf-line-protocol.txt"


def telegraf_lines() -> list[str]:
    """The line-protocol lines of `TELEGRAF_LINE_PROTOCOL`, without its comments and blank lines."""
    text = TELEGRAF_LINE_PROTOCOL.read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private Mosquitto on a free loopback port, configured as we configure production brokers."""

    def __init__(self, workdir: Path, extra_conf: str = ""):
        self.workdir = workdir
        self.port = free_port()
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def conf_text(self) -> str:
        return "\n".join(
            [
                f"listener {self.port} 127.0.0.1",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {self.workdir}/",
                # The stock 1000 silently drops QoS 1 messages for a persistent session that is away.
                "max_queued_messages 1000000",
                "max_queued_bytes 0",
                "max_inflight_messages 0",
                # No $SYS figures unless a test asks (extra_conf "sys_interval N"): ingest stores the
                # broker's drop figure as a sample, which tests that count samples would meet.
                "sys_interval 0",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                self.extra_conf,
                "",
            ]
        )

    def start(self) -> Broker:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.conf_text())
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}") from None  # type: ignore[union-attr]
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def mqtt_client(url: str, client_id: str, will: str | None = None) -> mqtt.Client:
    """A device's MQTT v5 connection (with its Last Will on `will`), its network loop running."""
    host, port = url.removeprefix("mqtt://").split(":")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if will:
        c.will_set(will, b"offline", qos=1, retain=True)
    c.connect(host, int(port), keepalive=60)
    c.loop_start()
    return c


def publish(c: mqtt.Client, topic: str, payload: bytes, retain: bool = False) -> None:
    """Publish at QoS 1 and wait for the broker's acknowledgement."""
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
