"""deploy/telegraf/telegraf.conf: topics, QoS and format per the contract, and its starlark mapping turns
real Telegraf output (tests/testdata) into line protocol our decoder reads as the standard metrics.

Telegraf itself is not installable here. Its starlark processor runs a Python subset, so the script is
executed with Python on the metrics parsed from the testdata, with a small Metric type like Telegraf's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from string import Template

import pytest

from collectors.decoders.line_protocol import decode, parse_line
from ioc.model import STANDARD_METRICS, parse_topic
from tests.support import telegraf_lines

CONF = Path("deploy/telegraf/telegraf.conf")
ENV = {"IOC_MQTT_SERVER": "mqtt://127.0.0.1:1883", "IOC_ENTITY": "kiosk-phu-vang-01", "IOC_LINK": "wan-xa-phu-vang",
       "IOC_MQTT_PASSWORD": "a", "IOC_LINK_PASSWORD": "b", "IOC_LINK_TARGET": "10.30.30.1"}  # fmt: skip


@pytest.fixture(scope="module")
def conf() -> dict:
    # Telegraf substitutes ${VAR} from the environment before parsing the TOML.
    return tomllib.loads(Template(CONF.read_text(encoding="utf-8")).substitute(ENV))


class Metric:
    def __init__(self, name: str):
        self.name, self.tags, self.fields, self.time = name, {}, {}, 0

    def line(self) -> str:
        tags = "".join(f",{k}={v}" for k, v in sorted(self.tags.items()))
        fields = ",".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.name}{tags} {fields} {self.time}"


def run_starlark(conf: dict, lines: list[str]) -> list[Metric]:
    scope: dict = {"Metric": Metric}
    exec(conf["processors"]["starlark"][0]["source"], scope)
    out = []
    for line in lines:
        name, tags, fields, ts = parse_line(line)
        metric = Metric(name)
        metric.tags, metric.fields, metric.time = dict(tags), {f: v for f, v in fields if v is not None}, ts or 0
        out.extend(scope["apply"](metric))
    return out


def test_outputs_follow_the_contract(conf: dict) -> None:
    outputs = conf["outputs"]["mqtt"]
    assert [(parse_topic(o["topic"], "ioc/v1").family, parse_topic(o["topic"], "ioc/v1").kind) for o in outputs] == [
        ("lp", "kiosk"), ("lp", "link"),
    ]  # fmt: skip
    for o in outputs:
        assert o["qos"] == 1 and o["data_format"] == "influx" and o["layout"] == "batch"
        assert o["keep_alive"] > 0  # mosquitto 2.0.12+ rejects keep_alive 0 from Telegraf
        kind, entity = o["topic"].split("/")[-2:]
        assert o["username"] == f"{kind}/{entity}", "the broker ACL lets a device publish only its own topics"
    assert conf["agent"]["omit_hostname"] is True


def test_testdata_becomes_standard_metrics(conf: dict) -> None:
    lines = telegraf_lines()
    metrics = run_starlark(conf, lines)
    routed: dict[str, list[str]] = {}
    for output in conf["outputs"]["mqtt"]:
        batch = [m.line() for m in metrics if m.name in output["namepass"]]
        routed[output["topic"]] = batch
    kiosk = decode(
        "ioc/v1/lp/kiosk/kiosk-phu-vang-01", "\n".join(routed["ioc/v1/lp/kiosk/kiosk-phu-vang-01"]).encode(), 0
    )
    link = decode("ioc/v1/lp/link/wan-xa-phu-vang", "\n".join(routed["ioc/v1/lp/link/wan-xa-phu-vang"]).encode(), 0)
    assert kiosk.problems == [] and link.problems == []
    assert set(kiosk.metrics) == {"cpu_pct", "mem_pct", "disk_free_pct", "temp_c"}
    assert set(link.metrics) == {"rtt_ms", "jitter_ms", "loss_pct"}
    assert set(kiosk.metrics) <= set(STANDARD_METRICS["kiosk"]) and set(link.metrics) <= set(STANDARD_METRICS["link"])
    values = dict(zip(kiosk.metrics, kiosk.values, strict=True))
    assert values["cpu_pct"] == pytest.approx(31.249999981810106)
    assert values["mem_pct"] == pytest.approx(15.95004011996231)
    link_values = dict(zip(link.metrics, link.values, strict=True))
    assert link_values == {"rtt_ms": 23.066, "jitter_ms": 0.809, "loss_pct": 0.0}
    disk = [v for m, v in zip(kiosk.metrics, kiosk.values, strict=True) if m == "disk_free_pct"]
    assert disk[0] == pytest.approx(100 * 398407520256 / 499088621568)
