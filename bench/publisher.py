"""The bench's publisher, a process of its own: one phase's messages over MQTT v5 at QoS 1 (paho-mqtt 2).

    python bench/publisher.py '{"host": ..., "port": ..., "username": ..., "password": ...,
                                "phase": {"shape": ..., "messages": ..., "entities": ..., "t0": ...},
                                "part": [index, parts]}'

Builds its share of the payloads first (message i where i % parts == index), prints `ready`, waits
for a line on standard input, publishes as fast as paho can, and prints one JSON line: the time of
the first publish and the time the broker had acknowledged every message.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
from workload import Phase, messages


def main(spec: dict) -> None:
    index, parts = spec["part"]
    payloads = [m for i, m in enumerate(messages(Phase(**spec["phase"]))) if i % parts == index]
    acked = 0
    done = threading.Event()

    def on_publish(client: mqtt.Client, userdata: object, mid: int, reason: object, props: object) -> None:
        nonlocal acked
        acked += 1
        if acked == len(payloads):
            done.set()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    if spec.get("username"):
        client.username_pw_set(spec["username"], spec["password"])
    client.max_inflight_messages_set(0)  # no client-side window: the broker's Receive Maximum bounds it
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect(spec["host"], spec["port"])
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    first, cpu0 = time.time(), time.process_time()
    for topic, payload in payloads:
        client.publish(topic, payload, qos=1)
    last_call = time.time()
    if payloads and not done.wait(600):
        print(orjson.dumps({"error": f"only {acked} of {len(payloads)} acknowledged in 600 s"}).decode(), flush=True)
        sys.exit(1)
    acked_at, cpu_s = time.time(), time.process_time() - cpu0
    result = {"messages": len(payloads), "first_publish": first, "last_publish_call": last_call,
              "all_acked": acked_at, "cpu_s": cpu_s}  # fmt: skip
    print(orjson.dumps(result).decode(), flush=True)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main(orjson.loads(sys.argv[1]))
