"""Publishing a history over MQTT with its own timestamps, and waiting for the store to hold it."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import psycopg


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    for info in [client.publish(t, p, qos=1) for t, p in messages]:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def wait_for_samples(dsn: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(dsn, autocommit=True) as conn:
            got = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        if got >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{got} of {count} samples stored within {timeout} s")
        time.sleep(0.1)
