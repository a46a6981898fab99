"""The link prober against a local TCP listener and, where this process may, ICMP to loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from collectors.probes.http import ProbeConfigError
from collectors.probes.link import LinkTarget, open_icmp_socket, probe_link, summarize
from ioc.inventory import Entity
from tests.support import free_port


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


def link(**attrs: object) -> LinkTarget:
    return LinkTarget.from_entity(Entity("link", "wan-xa-phu-vang", "Đường truyền xã Phú Vang", attrs=attrs))


@pytest.mark.parametrize(
    ("rtts", "expected"),
    [
        ([10.0, 12.0, 11.0, 15.0], {"rtt_ms": 12.0, "jitter_ms": 2.333, "loss_pct": 0.0, "up": 1}),
        ([10.0, None, 14.0, None], {"rtt_ms": 12.0, "jitter_ms": 4.0, "loss_pct": 50.0, "up": 1}),
        ([7.5], {"rtt_ms": 7.5, "jitter_ms": 0.0, "loss_pct": 0.0, "up": 1}),
        ([None, None, None], {"loss_pct": 100.0, "up": 0}),
    ],
)
def test_summarize(rtts: list[float | None], expected: dict[str, float]) -> None:
    assert summarize(rtts) == expected


def test_tcp_connect_to_a_listener(listener: int) -> None:
    metrics, method = probe_link(link(target="127.0.0.1", method="tcp", port=listener, count=4))
    assert method == "tcp"
    assert metrics["up"] == 1 and metrics["loss_pct"] == 0.0
    assert 0 < metrics["rtt_ms"] < 1000 and metrics["jitter_ms"] >= 0


def test_tcp_refused_still_answers_but_silence_is_loss() -> None:
    refused, _ = probe_link(link(target="127.0.0.1", method="tcp", port=free_port(), count=2))
    assert refused["up"] == 1  # a RST came back: the far end is reachable
    lost, _ = probe_link(link(target="no-such-host.invalid", method="tcp", count=2, timeout_s=0.2))
    assert lost == {"loss_pct": 100.0, "up": 0}


def test_icmp_to_loopback_where_permitted() -> None:
    sock = open_icmp_socket()
    if sock is None:
        pytest.skip("this process may not send ICMP (no raw socket, ping_group_range excludes it)")
    sock[0].close()
    metrics, method = probe_link(link(target="127.0.0.1", count=3, timeout_s=1))
    assert method == "icmp"
    assert metrics["up"] == 1 and metrics["loss_pct"] == 0.0 and metrics["rtt_ms"] < 100


def test_icmp_to_an_unknown_host_is_loss() -> None:
    if open_icmp_socket() is None:
        pytest.skip("this process may not send ICMP")
    metrics, _ = probe_link(link(target="no-such-host.invalid", method="icmp", count=2, timeout_s=0.2))
    assert metrics == {"loss_pct": 100.0, "up": 0}


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({}, "link/wan-xa-phu-vang: target (or host) must name the far end of the link"),
        (
            {"target": "10.0.0.1", "method": "udp"},
            "link/wan-xa-phu-vang: method must be one of auto, icmp, tcp, not 'udp'",
        ),
        ({"target": "10.0.0.1", "port": 70000}, "link/wan-xa-phu-vang: port must be a TCP port number, not 70000"),
        ({"target": "10.0.0.1", "count": 0}, "link/wan-xa-phu-vang: count must be an integer in [1, 100], not 0"),
        (
            {"host": "10.0.0.1", "timeout_s": 60},
            "link/wan-xa-phu-vang: timeout_s must be a number of seconds in (0, 30]",
        ),
    ],
)
def test_config_errors(attrs: dict[str, object], message: str) -> None:
    with pytest.raises(ProbeConfigError) as err:
        link(**attrs)
    assert str(err.value) == message
